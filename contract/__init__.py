"""What every room of the lab agrees on, in one light package (no dependency, nothing of ours
imported): the shared limits, requests, settings, the lab's layout, the code identity of the
experiment programs and how numbers are written with their units. The engine, the agents, the
record, the control room and the database room (for the typed values its JSON columns decode
into) import it; it is the bottom and imports nothing of ours."""

VERSION = "0.1.0"  # the lab's version, recorded with every engine start and every experiment
