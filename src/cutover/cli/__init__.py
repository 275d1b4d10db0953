"""The command line: the only layer that prints or exits.

Each command lives in its own module and imports heavy things inside the command, so
``cutover --help`` stays instant (a test checks ``sys.modules``).
"""
