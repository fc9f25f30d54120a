"""What every room of the lab agrees on, in one light package (no dependency, nothing of ours
imported): the shared limits and how numbers are written with their units. The engine, the
agents, the control room and the reports import it; the database room stays the bottom and
imports nothing of ours."""
