"""The lectures recipe, executable: training runs, plots, and (later) doctor and search."""
