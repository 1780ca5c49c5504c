from kvmlab.cli import main

raise SystemExit(main())
