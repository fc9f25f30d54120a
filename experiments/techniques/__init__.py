"""The lab's techniques, one module each: its declaration (``EXPERIMENT``: parameters, plan of
variants with their references and objectives, deliverables, metrics, literature) and its program
(``run(ctx) -> result values``). Every module here is a technique; the catalog finds them all.
A module imports torch only inside its functions, so the declarations are read without it."""
