from finops_core.cli import main

raise SystemExit(main())
