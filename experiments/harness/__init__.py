"""The shared harness: data, models, training, measurement, energy, the run context."""
