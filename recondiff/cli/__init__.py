"""The command line, the only package that imports click: parse, call the library,
map errors to exit codes."""
