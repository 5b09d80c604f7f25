"""The retention purge while mail keeps arriving: SMTP latency before and during a purge.

Fills a fresh SQLite file with the queue bench's filler (bench/queue_fill.py), enough
for about --purge items to be resolved more than `retention.resolved_days` ago, starts
Intake's SMTP server on it, and sends mail one message after another on one connection:
first with nothing else running (the baseline, measured in the same run), then while the
retention purge erases the old items in its batches. Prints each phase's p50 and p99 of
the time from DATA to the 250 (the commit), their ratio, and how fast the purge went.

    .venv/bin/python bench/retention.py [--purge 100000] [--baseline 300]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import smtplib
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.queue_fill import fill
from bench.smtp_ingest import mail, wait_for_items
from config.loading import DEFAULT_CONFIG, load_settings
from config.settings import ListenAddress
from intake.cli.runtime import open_runtime, start_inbox
from intake.email.parse_workers import ParseWorkers, WorkerLimits
from intake.email.smtp import SMTPServer
from intake.jobs.retention import RetentionWorker
from routing.contacts.retention import purge
from routing.normalize import normalizer_for

# The filler spreads two years evenly and resolves nearly all: about this share of its
# items were resolved more than a year ago.
OLD_SHARE = 0.47


def quantiles(times: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(times, n=100)
    return statistics.median(times), cuts[98]


def send(port: int, count: int | None, until: threading.Event | None, first: int) -> list[float]:
    """Send mails one by one; the milliseconds each took from MAIL to its 250."""
    times = []
    with smtplib.SMTP("127.0.0.1", port) as client:
        number = first
        while (count is None or number - first < count) and not (until is not None and until.is_set()):
            started = time.perf_counter()
            client.sendmail("ann@client.example", ["sales@office.example"], mail(number, "retention"))
            times.append((time.perf_counter() - started) * 1000)
            number += 1
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--purge", type=int, default=100_000, help="about this many old items to erase")
    parser.add_argument("--baseline", type=int, default=300, help="mails sent before the purge")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        settings = load_settings(DEFAULT_CONFIG, {"INTAKE_DATABASE_URL": f"sqlite:///{folder}/bench.db"})
        runtime = open_runtime(settings)
        started = time.perf_counter()
        fill(
            runtime.engine,
            runtime.sessions,
            [d.id for d in settings.departments],
            int(args.purge / OLD_SHARE),
            normalizer_for(settings.languages),
        )
        print(
            f"SQLite: filled in {time.perf_counter() - started:.0f} s; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
        )
        smtp = dataclasses.replace(settings.smtp, listen=ListenAddress("127.0.0.1", 0))
        with ParseWorkers(WorkerLimits.from_settings(settings.email)) as workers:
            # As `intake serve --workers 0` runs them: the door commits to the inbox, a
            # thread of this process makes the items.
            writer, processing = start_inbox(runtime, 0, workers.parse_all)
            server = SMTPServer(dataclasses.replace(settings, smtp=smtp), writer.submit)
            server.start()
            try:
                before = send(server.public.port, args.baseline, None, 0)
                done = threading.Event()
                report: list[object] = []
                pause = RetentionWorker(runtime.sessions, lambda: settings)._pause

                def purging() -> None:
                    begun = time.perf_counter()
                    report.append(
                        purge(runtime.sessions, settings.retention, datetime.now(UTC), between=pause)
                    )
                    report.append(time.perf_counter() - begun)
                    done.set()

                thread = threading.Thread(target=purging)
                thread.start()
                during = send(server.public.port, None, done, args.baseline)
                thread.join()
                stored = len(wait_for_items(runtime, "retention", len(before) + len(during)))
            finally:
                server.stop()
                writer.stop()
                processing.stop()
        runtime.engine.dispose()
    purged, seconds = report
    assert stored == len(before) + len(during), f"{stored} stored of {len(before) + len(during)} answered 250"
    b50, b99 = quantiles(before)
    d50, d99 = quantiles(during)
    print(f"purge: {purged.summary()} in {seconds:.1f} s")  # type: ignore[attr-defined]
    print(f"  {'':<28} {'mails':>6} {'p50 ms':>8} {'p99 ms':>8}")
    print(f"  {'SMTP, nothing else running':<28} {len(before):>6} {b50:>8.1f} {b99:>8.1f}")
    print(f"  {'SMTP during the purge':<28} {len(during):>6} {d50:>8.1f} {d99:>8.1f}")
    print(f"  during / before: p50 x{d50 / b50:.1f}, p99 x{d99 / b99:.1f}; every mail stored ({stored})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
