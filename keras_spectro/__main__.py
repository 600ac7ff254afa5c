import sys

from keras_spectro.cli import main

sys.exit(main())
