"""Internal I/O helpers: atomic writes, safe CSV, the packaged SQL files."""
