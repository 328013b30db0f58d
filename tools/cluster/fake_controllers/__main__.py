import sys

from tools.cluster.fake_controllers import main

sys.exit(main())
