"""``python -m lgrec`` is the ``lgrec`` command."""

from lgrec.cli.main import main

main()
