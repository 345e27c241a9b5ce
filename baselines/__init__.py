"""Non-SDE restoration methods compared against IR-SDE, built on irsde's data, engine and metrics."""
