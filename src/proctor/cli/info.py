"""``proctor doctor`` and ``proctor list``: what is installed, and what is registered."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from proctor import __version__
from proctor.cli.app import fail, main


@main.command()
@click.option(
    "--store",
    help="A store URL to check as well (SQLAlchemy URL or SQLite path; passwords are hidden).",
)
@click.option(
    "--config",
    "config",
    type=click.Path(path_type=Path),
    help="A loop file whose database to check as well.",
)
def doctor(store: str | None, config: Path | None) -> None:
    """Say which extras, services and model credentials are present, and what each enables.

    Stores checked: PROCTOR_TEST_POSTGRES, --store and the loop file's database; Chromium at
    /usr/bin/chromium; the kernel's sandbox (Landlock, seccomp) for run_python; credentials by
    name only (values are never shown). Always exits 0.
    """
    import os
    import platform

    from proctor import doctor as doc
    from proctor.bench.store import store_url

    targets: list[tuple[str, str]] = []
    if os.environ.get("PROCTOR_TEST_POSTGRES"):
        targets.append(("PROCTOR_TEST_POSTGRES", os.environ["PROCTOR_TEST_POSTGRES"]))
    if store is not None:
        targets.append(("--store", store_url(store)))
    if config is not None:
        from proctor.live.config import ConfigError, load_loop

        try:
            targets.append(("--config", store_url(load_loop(config).database_target)))
        except ConfigError as err:
            fail(str(err).splitlines()[0])
    checks = doc.check_extras()
    if targets:
        checks += [doc.check_store(url, source) for source, url in targets]
    else:
        checks.append(
            doc.Check(
                "services",
                "store",
                True,
                "SQLite files (built in); no other store named: set PROCTOR_TEST_POSTGRES or "
                "pass --store URL to check one",
                "the bench's and the live loop's stores",
            )
        )
    checks.append(doc.check_chromium())
    checks.append(doc.check_sandbox())
    checks += doc.check_credentials(os.environ)
    click.echo(f"proctor {__version__} · Python {platform.python_version()} · {sys.executable}")
    click.echo()
    for line in doc.render(checks):
        click.echo(line)


@main.command(name="list")
@click.argument("what", type=click.Choice(["domains", "researchers", "protocols"]))
def list_(what: str) -> None:
    """List registered domains, researchers (backends and dispositions) or protocols."""
    from proctor import registry
    from proctor.domains import get_domain
    from proctor.researchers.strategy import variant_levels, variant_names

    def shown(domain: str, name: str) -> str:
        levels = variant_levels(domain, name)
        return f"{name} (level {','.join(map(str, levels))} only)" if levels is not None else name

    if what == "domains":
        for name in registry.names("domain"):
            d = get_domain(name)
            levels = ",".join(map(str, d.levels))
            click.echo(f"{name:12} {d.evaluability:15} levels {levels:6} {d.description}")
    elif what == "researchers":
        for domain in registry.names("domain"):
            backends = ", ".join(registry.names("backend", domain))
            click.echo(f"{domain}: backends {backends}")
            listed = ", ".join(shown(domain, n) for n in variant_names(domain))
            click.echo(f"{domain}: dispositions {listed}")
            for backend in registry.names("backend", domain):
                own = getattr(registry.lookup("backend", backend, domain), "organisms", None)
                if own is not None:
                    click.echo(f"{domain}: {backend} dispositions {', '.join(own)}")
    else:
        names = registry.names("protocol")
        width = max(map(len, names), default=0)
        for name in names:
            domains = [d for d in registry.names("domain") if registry.applies("protocol", name, d)]
            cls = registry.lookup("protocol", name, domains[0]) if domains else None
            focus = f"{getattr(cls, 'focus', '?')}-focused"
            weights = (
                "  (white-box: reads the researcher's weights)"
                if getattr(cls, "needs_weights", False)
                else ""
            )
            click.echo(f"{name:{width}}  {focus:15} domains: {', '.join(domains)}{weights}")
