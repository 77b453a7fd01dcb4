"""`posguard fleet ...`: the fleet face, assembled from one module per command group.

| group | module |
|---|---|
| migrate | :mod:`posguard.fleet.cli_migrate` |
| serve | :mod:`posguard.fleet.cli_serve` |
| mqtt-worker | :mod:`posguard.fleet.cli_mqtt_worker` |
| diagnose | :mod:`posguard.fleet.cli_diagnose` |
| create-user | :mod:`posguard.fleet.cli_users` |
| add-merchant, merchants, add-terminal | :mod:`posguard.fleet.cli_merchants` |
| import | :mod:`posguard.fleet.cli_import` |
| notify, incident, maintenance | their own sub-apps |

Every command takes ``--lang`` and ``--debug`` (:class:`~posguard.cli_support.errors.FaceApp`);
expected failures end with one line on stderr in the user's language and the exit status of
their kind (:mod:`posguard.fleet.cli_errors`: 1 refused, 2 fix the command, 4 unknown id,
5 database unavailable), never a traceback.

A new command goes in its own module and is registered here with one line."""

from __future__ import annotations

from posguard.cli_support.errors import FaceApp
from posguard.fleet import (
    cli_diagnose,
    cli_import,
    cli_merchants,
    cli_migrate,
    cli_mqtt_worker,
    cli_serve,
    cli_users,
)
from posguard.fleet.db.maintenance_cli import app as maintenance_app
from posguard.fleet.incident_cli import app as incident_app
from posguard.fleet.notify.cli import app as notify_app
from posguard.fleet.package_key_cli import app as package_key_app
from posguard.fleet.training_cli import app as training_app

app = FaceApp(help="The fleet service / 终端管理服务.", no_args_is_help=True)
cli_migrate.register(app)
cli_serve.register(app)
cli_mqtt_worker.register(app)
cli_diagnose.register(app)
cli_users.register(app)
cli_merchants.register(app)
cli_import.register(app)
app.add_typer(notify_app, name="notify")
app.add_typer(incident_app, name="incident")
app.add_typer(maintenance_app, name="maintenance")
app.add_typer(package_key_app, name="package")
app.add_typer(training_app, name="training")
