"""``lvatool conformance``: verdicts on either side of the protocol, for CI pipelines."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from lvatool.addresses import AddressError, parse_listen, parse_target
from lvatool.commands.credential_options import Password, PasswordFile
from lvatool.conformance import (
    CATALOGUE,
    ConnectError,
    Outcome,
    Selection,
    ServerSuiteOptions,
    SuiteReport,
    checks_of,
    run_client_suite,
    run_server_suite,
    self_test,
)
from lvatool.conformance.explain import UnknownIdError, explain
from lvatool.conformance.interrupt import interrupts_raise
from lvatool.conformance.report import (
    ReportPathError,
    catalogue_json,
    check_report_path,
    render_catalogue,
    render_report,
    write_json,
    write_junit,
)
from lvatool.conformance.results import CheckResult, RunOutcome
from lvatool.conformance.runner import ran_any
from lvatool.conformance.suites import interrupted_report
from lvatool.credentials import CredentialsError, check_pair, resolve_password
from lvatool.media import RAW_PIXEL_FORMATS, Encoding, FrameFormat, PixelFormat
from lvatool.sim.call import ConnectOptions
from lvatool.text import as_text

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_CONNECT, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

app = typer.Typer(
    help=(
        "Check an extension (server) or an LVA-like client against every rule of the "
        "protocol. With no subcommand: a self-test of lvatool's own server and simulator."
    ),
    no_args_is_help=False,
    add_completion=False,
)


def _fail(message: str, code: int) -> typer.Exit:
    """Print one sentence to stderr; the caller raises the returned exit.

    The message goes through :func:`as_text`: it often quotes what the user typed, where
    a ``[`` must not be read as rich markup (an unmatched ``[/b]`` would raise instead of
    printing), or what the peer said (a run's reason), where a control character must
    not act on the terminal.
    """
    Console(stderr=True).print(
        f"[red]lvatool conformance:[/red] {as_text(message)}", highlight=False
    )
    return typer.Exit(code)


STDOUT = "-"  # ``--json -``: the catalogue goes to standard output


def _print_catalogue(suite: str | None, json_path: Path | None) -> None:
    """The table, or with ``--json -`` the catalogue as JSON on stdout (``--json FILE``: both)."""
    checks = checks_of(suite)
    if json_path is None or str(json_path) != STDOUT:
        render_catalogue(checks, Console())
    if json_path is None:
        return
    text = json.dumps(catalogue_json(checks), indent=2)
    if str(json_path) == STDOUT:
        typer.echo(text)
        return
    try:
        json_path.write_text(text + "\n", encoding="utf-8")
    except OSError as error:
        raise _fail(f"cannot write --json {json_path}: {error.strerror}", EXIT_USAGE) from None


def _on_list(ctx: typer.Context, param: typer.CallbackParam, value: bool) -> bool:
    """``--list``: print the catalogue and exit while options are still being parsed.

    Acting here means ``--list`` never starts a suite, wherever it stands on the command
    line; ``--json`` is eager, so its value is already known. Without ``--list`` it
    refuses ``--json -``: results are written to a file, and ``-`` would silently create
    one named ``-``.
    """
    json_path = ctx.params.get("json_path")
    if value:
        suites = {check.suite for check in CATALOGUE.values()}
        _print_catalogue(ctx.info_name if ctx.info_name in suites else None, json_path)
        raise typer.Exit(EXIT_OK)
    if json_path is not None and str(json_path) == STDOUT:
        raise _fail(
            "--json - prints the check catalogue and goes with --list; "
            "for results give a file, e.g. --json results.json",
            EXIT_USAGE,
        )
    return value


ListOpt = Annotated[
    bool,
    typer.Option(
        "--list",
        callback=_on_list,
        help="Print the check catalogue (this suite's, after server/client) and exit. "
        "With --json -: the catalogue as JSON on stdout (id, title, suite, level, "
        "deadline_s, rules, description).",
    ),
]
SelectOpt = Annotated[
    list[str] | None,
    typer.Option("--select", help="Run only these check IDs (repeat, or comma-separate)."),
]
SkipOpt = Annotated[list[str] | None, typer.Option("--skip", help="Leave out these check IDs.")]
JsonOpt = Annotated[
    Path | None,
    typer.Option(
        "--json",
        metavar="FILE",
        is_eager=True,  # parsed before --list, whose callback reads it
        help="Write the results as JSON to FILE. With --list: write the catalogue "
        "there instead; --list --json - prints it to stdout in place of the table.",
    ),
]
ExplainOpt = Annotated[
    str | None,
    typer.Option(
        "--explain",
        metavar="RULE|CHECK",
        help="Explain a rule (e.g. M3) or a check (e.g. S06): what it asks, why it "
        "matters, how to fix a failure, which checks enforce it; then exit.",
    ),
]
JunitOpt = Annotated[Path | None, typer.Option("--junit", help="Write JUnit XML here.")]
HtmlOpt = Annotated[
    Path | None,
    typer.Option(
        "--html",
        metavar="FILE",
        help="Write an HTML report here: every check with its message and duration, and a "
        "chart of durations; one self-contained file that opens offline.",
    ),
]
StrictOpt = Annotated[bool, typer.Option("--strict", help="SHOULD failures fail the run too.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Print only the summary line.")]


def _ids(values: list[str] | None) -> tuple[str, ...]:
    """IDs from repeated options or comma-separated lists, upper-cased."""
    return tuple(
        part.strip().upper() for v in values or () for part in v.split(",") if part.strip()
    )


def _selection(
    suite: str | None, list_: bool, select: list[str] | None, skip: list[str] | None, strict: bool
) -> Selection:
    """The checks to run; with ``--list``, print the suite's catalogue and exit instead.

    IDs are validated here, with a sentence for the user: an unknown ID, or an ID of the
    other suite (``server --select C01``), is a usage error, never a traceback. The
    self-test (``suite`` None) runs both suites and takes IDs of either.
    """
    if list_:  # normally handled by --list's callback already
        _print_catalogue(suite, None)
        raise typer.Exit(EXIT_OK)
    chosen, left_out = _ids(select), _ids(skip)
    unknown = sorted(set(chosen + left_out) - set(CATALOGUE))
    if unknown:
        raise _fail(f"unknown check id(s): {', '.join(unknown)} (see --list)", EXIT_USAGE)
    for option, ids in (("--select", chosen), ("--skip", left_out)):
        foreign = [i for i in ids if suite is not None and CATALOGUE[i].suite != suite]
        if foreign:
            own = [c.id for c in checks_of(suite)]
            others = " or ".join(sorted({CATALOGUE[i].suite for i in foreign}))
            names = f"names a {others}-suite check" if len(foreign) == 1 else (
                f"name {others}-suite checks")  # fmt: skip
            raise _fail(
                f"{option} {', '.join(foreign)} {names}, but `lvatool conformance {suite}` "
                f"runs {own[0]}–{own[-1]} (see `lvatool conformance {suite} --list`)",
                EXIT_USAGE,
            )
    return Selection(chosen, left_out, strict)


@dataclass(frozen=True)
class RunOptions:
    """The options every run takes, before the subcommand (the group's) or after it.

    ``lvatool conformance --junit r.xml server …`` is how many people type it; the
    group's options apply to the subcommand unless the subcommand gives its own (lists
    replaced, flags combined), so nothing typed is silently dropped.
    """

    select: list[str] | None = None
    skip: list[str] | None = None
    json_path: Path | None = None
    junit: Path | None = None
    strict: bool = False
    quiet: bool = False
    html: Path | None = None

    def over(self, group: RunOptions | None) -> RunOptions:
        """These options, with the group's filling in what was not given here."""
        if group is None:
            return self
        return RunOptions(
            select=self.select or group.select,
            skip=self.skip or group.skip,
            json_path=self.json_path or group.json_path,
            junit=self.junit or group.junit,
            strict=self.strict or group.strict,
            quiet=self.quiet or group.quiet,
            html=self.html or group.html,
        )

    def check_report_paths(self) -> None:
        """Refuse report files that could not be written, before the run (exit 2)."""
        for option, path in (
            ("--json", self.json_path),
            ("--junit", self.junit),
            ("--html", self.html),
        ):
            if path is not None:
                try:
                    check_report_path(path, option)
                except ReportPathError as error:
                    raise _fail(str(error), EXIT_USAGE) from None


def _run_options(ctx: typer.Context, given: RunOptions) -> RunOptions:
    """The subcommand's run options over the group's, report paths checked."""
    run = given.over(ctx.find_object(RunOptions))
    run.check_report_paths()
    return run


def _write_html(reports: list[SuiteReport], path: Path) -> None:
    """``--html``: plotly is loaded only by the runs that write a page."""
    from lvatool.html_report.conformance_report import write_conformance_html

    write_conformance_html(reports, path)


def _write_reports(reports: list[SuiteReport], run: RunOptions) -> bool:
    """Write --json, --junit and --html; False (with a sentence printed) if one could not be."""
    written = True
    for option, path, write in (
        ("--json", run.json_path, write_json),
        ("--junit", run.junit, write_junit),
        ("--html", run.html, _write_html),
    ):
        if path is None:
            continue
        try:
            write(reports, path)
        except OSError as error:
            Console(stderr=True).print(
                f"[red]lvatool conformance:[/red] cannot write {option} "
                f"{escape(str(path))}: {escape(error.strerror or str(error))}",
                highlight=False,
            )
            written = False
    return written


def _finish(reports: list[SuiteReport], run: RunOptions) -> NoReturn:
    """Show and write the reports, then exit with the code of how the run ended.

    Reports are written however the run ended; the exit code says the worst of it:
    130 interrupted, 3 the peer not reached (or the checker could not listen), 1 a MUST
    check failed (any, with --strict), 0 otherwise.
    """
    console = Console()
    for report in reports:
        if report.outcome is not RunOutcome.COMPLETED and not ran_any(report):
            continue  # no check ran: the one sentence below says it all
        if not run.quiet:
            render_report(report, console)
        else:
            s = report.summary()
            console.print(f"{report.suite}: {s['passed']} passed, {s['failed']} failed, "
                          f"{s['warned']} warned, {s['skipped']} skipped")  # fmt: skip
    written = _write_reports(reports, run)
    err = Console(stderr=True)
    failed = [r for report in reports for r in report.results
              if r.outcome in (Outcome.FAIL, Outcome.ERROR)]  # fmt: skip
    for result in failed:
        err.print(f"[red]FAIL[/red] {result.id} ({', '.join(result.rules)}): "
                  f"{as_text(result.message)}", highlight=False)  # fmt: skip
    unfinished = [r for r in reports if r.outcome is not RunOutcome.COMPLETED]
    if unfinished:
        last = unfinished[-1]
        interrupted = last.outcome is RunOutcome.INTERRUPTED
        raise _fail(last.reason, EXIT_INTERRUPTED if interrupted else EXIT_CONNECT)
    if failed:
        raise typer.Exit(EXIT_FAILED)
    raise typer.Exit(EXIT_OK if written else EXIT_USAGE)


def _progress(quiet: bool) -> Callable[[CheckResult], None]:
    err = Console(stderr=True)

    def show(result: CheckResult) -> None:
        if not quiet and err.is_terminal:
            err.print(f"  {result.id} {result.outcome.value}", highlight=False)

    return show


@app.callback(
    invoke_without_command=True,
    help=(
        "Check an extension (server) or an LVA-like client against every rule of the "
        "protocol. With no subcommand: a self-test of lvatool's own server and simulator."
        "\n\nA failure names a check and its rules, e.g. FAIL S06 (M1, M2, M3). "
        "--explain M3 says what a rule asks, why it matters and how to fix a failure; "
        "--explain S06 what a check sends and expects. The full reference is "
        "docs/rules.md. For scripts, --list --json - prints the catalogue as JSON."
        "\n\n--select, --skip, --json, --junit, --html, --strict and --quiet may also be given "
        "before server/client; they apply to it unless it gives its own. The reports are "
        "written however the run ends (interrupted, peer not reached), saying why."
        "\n\nExit codes: 0 every MUST check passed, 1 a MUST check failed (or any, with "
        "--strict), 2 usage, 3 cannot connect or listen, 130 interrupted (SIGINT/SIGTERM)."
    ),
)
def conformance(
    ctx: typer.Context,
    list_: ListOpt = False,
    select: SelectOpt = None,
    skip: SkipOpt = None,
    json_path: JsonOpt = None,
    junit: JunitOpt = None,
    html: HtmlOpt = None,
    strict: StrictOpt = False,
    quiet: QuietOpt = False,
    explain_id: ExplainOpt = None,
) -> None:
    """Verdicts on both sides of the protocol. Without a subcommand: the self-test.

    ``--explain`` is handled first, with or without a subcommand: looking a rule up
    never starts a suite. (The help text above is what ``--help`` shows.)
    """
    if explain_id is not None:
        try:
            explain(explain_id, Console())
        except UnknownIdError as error:
            raise _fail(str(error), EXIT_USAGE) from None
        raise typer.Exit(EXIT_OK)
    given = RunOptions(select, skip, json_path, junit, strict, quiet, html)
    if ctx.invoked_subcommand is not None:
        ctx.obj = given  # the subcommand takes these unless it gives its own
        return
    run = _run_options(ctx, given)
    selection = _selection(None, list_, select, skip, strict)
    if selection.skip:
        # self_test splits --select between the suites but hands --skip to both, and each
        # suite rejects the other's IDs: name the checks to run instead, so each suite
        # sees only its own.
        wanted = tuple(
            c.id for c in checks_of()
            if (not selection.select or c.id in selection.select) and c.id not in selection.skip
        )  # fmt: skip
        if not wanted:
            raise _fail("--skip leaves no check to run", EXIT_USAGE)
        selection = Selection(wanted, (), strict)
    with interrupts_raise() as interrupts:
        try:
            reports = self_test(selection, on_result=_progress(run.quiet))
        except KeyboardInterrupt as interrupt:  # outside the suites' own handling
            reports = [interrupted_report("server", "self-test", selection, interrupt)]
        interrupts.shield()
        _finish(reports, run)


def _probe_format(text: str) -> FrameFormat:
    """``jpg``, ``png``, ``bmp`` or ``raw:PIXEL_FORMAT`` (``raw`` alone is BGR24)."""
    kind, _, layout = text.strip().lower().partition(":")
    encodings = {"jpg": Encoding.JPG, "jpeg": Encoding.JPG, "png": Encoding.PNG,
                 "bmp": Encoding.BMP, "raw": Encoding.RAW}  # fmt: skip
    if kind not in encodings or (layout and kind != "raw"):
        raise _fail(f"--probe-format {text!r}: use jpg, png, bmp or raw:PIXEL_FORMAT", EXIT_USAGE)
    if kind != "raw":
        return FrameFormat(encodings[kind])
    try:
        pixel = PixelFormat[(layout or "bgr24").upper()]
    except KeyError:
        pixel = PixelFormat.NONE
    if pixel not in RAW_PIXEL_FORMATS:
        names = ", ".join(f.name.lower() for f in RAW_PIXEL_FORMATS)
        raise _fail(f"--probe-format {text!r}: the RAW pixel format is one of {names}", EXIT_USAGE)
    return FrameFormat(Encoding.RAW, pixel)


def _probe_size(text: str) -> tuple[int, int]:
    """``WIDTHxHEIGHT``, each 16 to 4096."""
    width, _, height = text.strip().lower().partition("x")
    if not (width.isdigit() and height.isdigit()) or not (
        16 <= int(width) <= 4096 and 16 <= int(height) <= 4096
    ):
        raise _fail(f"--probe-size {text!r}: use WIDTHxHEIGHT, e.g. 416x416 (16 to 4096)",
                    EXIT_USAGE)  # fmt: skip
    return int(width), int(height)


def _text_or_file(value: str, option: str) -> str:
    """``@FILE`` reads the text from FILE; anything else is the text itself."""
    if not value.startswith("@"):
        return value
    try:
        return Path(value[1:]).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise _fail(f"cannot read {option} {value[1:]}: {error}", EXIT_USAGE) from None


@app.command("server")
def server(
    ctx: typer.Context,
    target: Annotated[
        str, typer.Option(help="The extension under test, HOST:PORT (or tcp://HOST:PORT).")
    ] = "localhost:5001",
    username: Annotated[
        str | None, typer.Option(help="Credentials the server requires (A1).")
    ] = None,
    password: Password = None,
    password_file: PasswordFile = None,
    profile: Annotated[
        str | None, typer.Option(help="darklight: also expect the reference labels of R4.")
    ] = None,
    extension_config: Annotated[
        str | None,
        typer.Option(
            help="extension_configuration sent in every descriptor (a pipeline name, a model, "
            "often JSON), as text or @FILE. Needed by extensions that serve nothing without it."
        ),
    ] = None,
    sessions: Annotated[
        int, typer.Option(min=2, max=256, help="Sessions S12 opens at once (H1).")
    ] = 16,
    stateful: Annotated[
        bool,
        typer.Option(
            "--stateful",
            help="The processor's results may depend on earlier frames of the same session, "
            "e.g. motion detection or tracking: S05 is skipped, S06 and S12 compare with the "
            "same sequence of frames in a fresh session.",
        ),
    ] = False,
    probe_format: Annotated[
        list[str] | None,
        typer.Option(
            help="A probe format to try when RAW BGR24, JPG, PNG and BMP at 160x120 are not "
            "processed: jpg, png, bmp or raw:PIXEL_FORMAT (e.g. raw:rgb24). Repeatable."
        ),
    ] = None,
    probe_size: Annotated[
        list[str] | None,
        typer.Option(help="A probe size to try, WIDTHxHEIGHT (e.g. 416x416). Repeatable."),
    ] = None,
    timeout: Annotated[
        float,
        typer.Option(min=10, help="Seconds the whole suite may take, whatever the server does."),
    ] = 60.0,
    tls_ca: Annotated[Path | None, typer.Option(help="PEM CA bundle: connect with TLS.")] = None,
    connect_timeout: Annotated[
        float, typer.Option(min=0.1, help="Seconds to wait for the server.")
    ] = 10.0,
    list_: ListOpt = False,
    select: SelectOpt = None,
    skip: SkipOpt = None,
    json_path: JsonOpt = None,
    junit: JunitOpt = None,
    html: HtmlOpt = None,
    strict: StrictOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Drive a running extension the way LVA would, and check every answer.

    The run first picks a probe format the server processes (RAW BGR24, then JPG, PNG,
    BMP at 160x120, then what --probe-format/--probe-size name); checks that need answers
    use it. A server that stays silent costs one check its wait: later checks are
    skipped with the reason, and the suite ends within --timeout.
    """
    run = _run_options(ctx, RunOptions(select, skip, json_path, junit, strict, quiet, html))
    selection = _selection("server", list_, run.select, run.skip, run.strict)
    try:
        address = parse_target(target)
    except AddressError as error:
        raise _fail(f"--target {error}", EXIT_USAGE) from None
    if profile not in (None, "darklight"):
        raise _fail("--profile takes darklight", EXIT_USAGE)
    password = _password(username, password, password_file)
    ca = None
    if tls_ca is not None:
        try:
            ca = tls_ca.read_bytes()
        except OSError as error:
            raise _fail(f"cannot read --tls-ca {tls_ca}: {error.strerror}", EXIT_USAGE) from None
    options = ServerSuiteOptions(
        username=username,
        password=password,
        profile=profile,
        extension_configuration=_text_or_file(extension_config or "", "--extension-config"),
        sessions=sessions,
        stateful=stateful,
        probe_formats=tuple(_probe_format(f) for f in probe_format or ()),
        probe_sizes=tuple(_probe_size(s) for s in probe_size or ()),
        timeout_s=timeout,
    )
    connect = ConnectOptions(
        target=address,
        connect_timeout_s=connect_timeout,
        username=username,
        password=password,
        tls_ca=ca,
    )
    with interrupts_raise() as interrupts:
        try:
            report = run_server_suite(connect, selection, options, on_result=_progress(run.quiet))
        except ConnectError as error:
            report = _unreached(error)
        except KeyboardInterrupt as interrupt:  # outside the suite's own handling
            report = interrupted_report("server", address, selection, interrupt)
        interrupts.shield()
        _finish([report], run)


@app.command("client", context_settings={"allow_interspersed_args": False})
def client(
    ctx: typer.Context,
    command: Annotated[
        list[str] | None,
        typer.Argument(
            help="The client to start, after --; {target} becomes the checker's address."
        ),
    ] = None,
    listen: Annotated[
        str,
        typer.Option(
            help="Where the checking extension listens, HOST:PORT (or tcp://HOST:PORT); "
            "port 0 picks a free one."
        ),
    ] = "127.0.0.1:0",
    timeout: Annotated[float, typer.Option(min=1, help="Seconds to wait for the client.")] = 120.0,
    username: Annotated[
        str | None, typer.Option(help="Credentials the client should send (A1).")
    ] = None,
    password: Password = None,
    password_file: PasswordFile = None,
    list_: ListOpt = False,
    select: SelectOpt = None,
    skip: SkipOpt = None,
    json_path: JsonOpt = None,
    junit: JunitOpt = None,
    html: HtmlOpt = None,
    strict: StrictOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Run a checking extension and judge the LVA-like client that streams to it.

    Either start the client here: lvatool conformance client -- my-client --to {target}
    or point a running client at --listen HOST:PORT.

    A client started here runs in a process group of its own; at --timeout, on Ctrl-C
    or on an error the whole group gets SIGTERM, then SIGKILL 3 s later.
    """
    run = _run_options(ctx, RunOptions(select, skip, json_path, junit, strict, quiet, html))
    selection = _selection("client", list_, run.select, run.skip, run.strict)
    try:
        address = parse_listen(listen, default_host="127.0.0.1")
    except AddressError as error:
        raise _fail(f"--listen {error}", EXIT_USAGE) from None
    password = _password(username, password, password_file)
    if not command and address.port == 0:
        raise _fail("give the client to start after --, or a fixed --listen HOST:PORT", EXIT_USAGE)
    with interrupts_raise() as interrupts:
        try:
            report = run_client_suite(command, listen=address, selection=selection,
                                      username=username, password=password, timeout_s=timeout,
                                      on_result=_progress(run.quiet))  # fmt: skip
        except ConnectError as error:
            report = _unreached(error)
        except KeyboardInterrupt as interrupt:  # outside the suite's own handling
            report = interrupted_report("client", str(address), selection, interrupt)
        interrupts.shield()
        _finish([report], run)


def _password(username: str | None, password: str | None, password_file: Path | None) -> str | None:
    """The password from --password, --password-file or LVATOOL_PASSWORD; a half pair is exit 2."""
    try:
        password = resolve_password(password, password_file, username=username)
        check_pair(username, password)
    except CredentialsError as error:
        raise _fail(str(error), EXIT_USAGE) from None
    return password


def _unreached(error: ConnectError) -> SuiteReport:
    """The report a :class:`ConnectError` carries (every check skipped with the reason)."""
    if error.report is None:  # raised outside a suite: still one sentence, exit 3
        raise _fail(str(error), EXIT_CONNECT)
    return error.report
