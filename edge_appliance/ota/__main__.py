from edge_appliance.ota.cli import main

raise SystemExit(main())
