"""Does a failed login say, by its timing, whether the account exists?

    .venv/bin/python bench/login_timing.py [--tries 40]

Times failed logins for an existing account (wrong password) and for a name that
does not exist, interleaved, through the real app (in-process, scratch database),
and prints the medians and their ratio.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chat import actions  # noqa: E402
from chat.factory import close_app, create_app  # noqa: E402
from tests.conftest import csrf_token  # noqa: E402
from tests.servers import scratch_database  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tries", type=int, default=40)
    args = parser.parse_args()
    with scratch_database() as url:
        with psycopg.connect(url, row_factory=psycopg.rows.dict_row) as conn:
            actions.create_user(conn, "eren", "correct horse")
        app = create_app(
            {
                "DATABASE_URL": url,
                "MIGRATE_ON_START": False,
                "LOGIN_FAILURES_PER_USER": 10**6,
                "LOGIN_FAILURES_PER_ADDRESS": 10**6,
            }
        )
        try:
            client = app.test_client()
            token = csrf_token(client.get("/login").text)
            times = {"wrong password": [], "unknown user": []}
            for _ in range(args.tries):
                for label, name in (("wrong password", "eren"), ("unknown user", "nobody")):
                    started = time.perf_counter()
                    response = client.post(
                        "/login",
                        data={"csrf_token": token, "username": name, "password": "guess"},
                    )
                    times[label].append(time.perf_counter() - started)
                    assert response.status_code == 400
        finally:
            close_app(app)
    medians = {label: statistics.median(t) * 1000 for label, t in times.items()}
    for label, median in medians.items():
        print(f"{label}: median {median:.1f} ms over {args.tries}")
    print(f"ratio: {medians['unknown user'] / medians['wrong password']:.2f}")


if __name__ == "__main__":
    main()
