#!/bin/sh
# Creates deploy/mosquitto/passwd with the fleet workers' user (posguard-fleet). Terminals are
# added by `posguard fleet import ... --mosquitto-passwd deploy/mosquitto/passwd`.
set -eu
here=$(dirname "$0")
: "${POSGUARD_FLEET_MQTT_PASSWORD:?set the broker password of posguard-fleet}"
python3 - "$here/passwd" <<'PY'
import os, sys
from posguard.fleet.broker_passwd import update_passwd_file
from pathlib import Path
update_passwd_file(Path(sys.argv[1]), [("posguard-fleet", os.environ["POSGUARD_FLEET_MQTT_PASSWORD"])])
PY
