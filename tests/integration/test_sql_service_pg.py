"""fdn.sql.service on a real PostgreSQL (pgserver.py starts one in a temporary directory): the
adapter suite the memory adapter passes and the SQL service's own cases (tests/lua/test_sql_service.lua,
which also runs them on SQLite), given the server's URL in FDN_TEST_SQL_URL."""
from netns import isolate

isolate()

import os
import sys

from fdntest import case, eq, finish, run_fdnode

try:
    from pgserver import PgServer
except ImportError:  # the PostgreSQL driver's branch brings it
    print("skipped: tests/integration/pgserver.py is not there")
    sys.exit(77)

server = PgServer()


@case("the adapter suite and the SQL service's cases on SQLite and PostgreSQL")
def _():
    os.environ["FDN_TEST_SQL_URL"] = server.url
    rc, out, err = run_fdnode("run", "tests/lua/test_sql_service.lua", timeout=120)
    print("  test_sql_service.lua: " + out.strip())
    eq((rc, err.strip()), (0, ""), "tests/lua/test_sql_service.lua passes: " + out.strip())


finish()
