"""``python -m hnl_coffea.cli``: the ``hnl-coffea`` command."""

from . import main

if __name__ == "__main__":
    main()
