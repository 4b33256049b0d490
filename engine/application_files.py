"""Application files in every format the CLI takes — JSON, YAML and the 申报表 workbook — with
the case each names; a case created or updated from one; many imported, each its own act; and
an application written back out.

A JSON or YAML file may carry a top-level ``case`` block beside the application's fields::

    {"case": {"round": 2024, "name": "…产业集群", "county": "佛山市南海区", "industry": "…"},
     "area_km2": "47.8", "output": {…}, …}

It names the case as a workbook's 基本信息 sheet does. ``case import`` needs it (a JSON file
without it is refused: nothing else would say which cluster the file is for); ``case create``
takes it in place of its options (options given as well must agree with it); ``case export``
writes it, so an exported file is imported as it stands.

``import_applications`` reads each file and files it with its own ``create_case`` (one
transaction, one audit row each): a bad file is reported with the place of its first error and
changes nothing, and the other files are filed all the same. A file whose round, county-level
unit and cluster name match a case that already exists is reported as ``exists`` and filed
again only through ``case create``: running an import again after fixing one file does not
duplicate the others.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final

from gdcluster.engine.application import load_application_file, to_json, validate_application
from gdcluster.engine.errors import EngineError, InvalidInput
from gdcluster.engine.i18n import N_, Message
from gdcluster.engine.workbook import ApplicationFile, CaseHeader
from gdcluster.engine.workbook_reader import is_workbook, read_application_workbook
from gdcluster.engine.workbook_writer import application_workbook
from gdcluster.states.policy import Policy

__all__ = [
    "CASE_BLOCK",
    "EXPORT_FORMATS",
    "IMPORT_SUFFIXES",
    "ImportOutcome",
    "application_document",
    "create_from_file",
    "export_case",
    "import_applications",
    "import_exit_code",
    "import_sources",
    "merge_header",
    "policy_named",
    "read_application_file",
    "template",
    "update_from_file",
]

CASE_BLOCK: Final = "case"
#: What ``case import`` reads from a folder, by suffix.
IMPORT_SUFFIXES: Final = (".xlsx", ".json", ".yaml", ".yml")
EXPORT_FORMATS: Final = ("json", "yaml", "xlsx")
MAX_FILE_BYTES: Final = 10 * 1024 * 1024
_HEADER_KEYS: Final = {"round": "round_year", "name": "name", "county": "county",
                       "industry": "industry"}
_HEADER_WORDS: Final = {"round": N_("the round year"), "name": N_("the cluster's name"),
                        "county": N_("the county-level unit"),
                        "industry": N_("the leading industry")}


# --------------------------------------------------------------------------------------------
# Reading one file


def read_application_file(content: bytes, filename: str) -> ApplicationFile:
    """A workbook, JSON or YAML application, validated; ``InvalidInput`` names the place of the
    first thing wrong (``指标数据!E3 (output.2023)`` in a workbook, ``output.2023`` in JSON)."""
    if is_workbook(content, filename):
        return read_application_workbook(content, filename)
    raw = load_application_file(content, filename)
    header, places = _case_block(raw.pop(CASE_BLOCK, None))
    return ApplicationFile(source=filename, header=header, data=validate_application(raw),
                           places=places)


def _case_block(block: Any) -> tuple[CaseHeader, dict[str, str]]:
    if block is None:
        return CaseHeader(), {}
    if not isinstance(block, Mapping):
        raise InvalidInput("expected a mapping {round, name, county, industry}",
                           field=CASE_BLOCK)
    values: dict[str, Any] = {}
    places: dict[str, str] = {}
    for key, value in block.items():
        path = f"{CASE_BLOCK}.{key}"
        if key not in _HEADER_KEYS:
            raise InvalidInput(Message("unknown field; known: {fields}",
                                       fields=", ".join(_HEADER_KEYS)), field=path)
        if value is None:
            continue
        if key == "round":
            value = _year(value, path)
        elif not isinstance(value, str) or not value.strip():
            raise InvalidInput(Message("expected non-empty text, not {value!r}", value=value),
                               field=path)
        values[_HEADER_KEYS[key]] = value
        places[key] = path
    return CaseHeader(**values), places


def _year(value: Any, path: str) -> int:
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) == 4:
        value = int(value.strip())
    if isinstance(value, int) and not isinstance(value, bool) and 2000 <= value <= 2100:
        return value
    raise InvalidInput(Message("expected the year of the round, such as 2024, not {value!r}",
                               value=value), field=path)


def merge_header(file: ApplicationFile, **given: Any) -> ApplicationFile:
    """``file`` naming its case from ``given`` (``round``, ``name``, ``county``, ``industry``;
    ``None`` for not given) and from what the file says: each must be said by one of them, and
    said alike where both say it (a county-level unit compares by the unit it denotes)."""
    merged: dict[str, Any] = {}
    places = dict(file.places)
    for key, attribute in _HEADER_KEYS.items():
        ours, theirs = given.get(key), getattr(file.header, attribute)
        if ours is not None and theirs is not None and not _same(key, ours, theirs):
            raise InvalidInput(Message("{ours!r} was given for {what}, but the file says "
                                       "{theirs!r}", ours=ours, what=Message(_HEADER_WORDS[key]),
                                       theirs=theirs), field=_place(file, key))
        if ours is None and theirs is None:
            raise InvalidInput(Message("{what} is missing: neither given nor named in the "
                                       "file", what=Message(_HEADER_WORDS[key])),
                               field=_place(file, key))
        if ours is not None:
            places.pop(key, None)  # a refusal of a given value names the option, not the file
        merged[attribute] = ours if ours is not None else theirs
    return replace(file, header=CaseHeader(**merged), places=places)


def _place(file: ApplicationFile, key: str) -> str:
    """Where the file names ``key``: ``基本信息!B4 (name)``, or ``case.name`` in JSON."""
    place = file.places.get(key)
    if place is None:
        return f"{CASE_BLOCK}.{key}" if file.places else key
    return place if place.startswith(f"{CASE_BLOCK}.") else f"{place} ({key})"


def _same(key: str, first: Any, second: Any) -> bool:
    if key == "county":
        return _unit(first) == _unit(second)
    if key == "round":
        return int(first) == int(second)
    return str(first).strip() == str(second).strip()


def _unit(county: str) -> str:
    from gdcluster.states.regions import UnknownRegion, load_regions

    try:
        return load_regions().unit(county).name
    except UnknownRegion:
        return county.strip()


# --------------------------------------------------------------------------------------------
# One case from one file


def create_from_file(engine: Any, file: ApplicationFile, actor: Any) -> int:
    """``create_case`` with the file's header and data (``merge_header`` first); a refusal of
    its name or county names the file's cell."""
    header = file.header
    try:
        return int(engine.create_case(round_year=header.round_year, name=header.name,
                                      county=header.county, industry=header.industry,
                                      data=file.data, actor=actor))
    except InvalidInput as error:
        raise file.locate(error) from None


def update_from_file(engine: Any, case_id: int, file: ApplicationFile, actor: Any, *,
                     expected_version: int | None = None) -> Any:
    """Replace a draft's data with the file's. What the file says of its case (a workbook's
    基本信息, a JSON ``case`` block) must be that case: a file meant for another cluster is
    refused rather than written over this one."""
    view = engine.get(case_id)
    actual = {"round": view.round, "name": view.name, "county": view.county,
              "industry": view.industry}
    for key, attribute in _HEADER_KEYS.items():
        said = getattr(file.header, attribute)
        if said is not None and not _same(key, said, actual[key]):
            raise InvalidInput(Message("the file is for {said!r}, but case {id} has "
                                       "{actual!r}", said=said, id=view.id,
                                       actual=actual[key]), field=_place(file, key))
    try:
        return engine.fire(case_id, "update", actor, expected_version=expected_version,
                           data=file.data)
    except InvalidInput as error:
        raise file.locate(error) from None


# --------------------------------------------------------------------------------------------
# Many files


@dataclass(frozen=True)
class ImportOutcome:
    """What became of one file: ``created`` (``case_id``), ``exists`` (the case it matches),
    ``failed`` (``exit_code``, ``code`` and ``message``, the place of the error included) or
    ``skipped`` (not an application file in a folder that was named)."""

    file: str
    status: str
    case_id: int | None = None
    exit_code: int = 0
    code: str | None = None
    message: str | None = None

    @property
    def failed(self) -> bool:
        return self.status == "failed"

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "status": self.status, "id": self.case_id,
                "exit_code": self.exit_code, "code": self.code, "message": self.message}


def import_sources(paths: Sequence[str | Path]) -> list[tuple[Path, str | None]]:
    """The files an import reads, in order: each named file, and each folder's files sorted by
    name (not its subfolders). A folder's other files are returned with the reason they are
    skipped; hidden files and Excel's lock files (``~$…``) are left out. A file named twice
    (itself and through its folder) is read once."""
    sources: list[tuple[Path, str | None]] = []
    seen: set[Path] = set()

    def add(path: Path, reason: str | None) -> None:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            sources.append((path, reason))

    for given in paths:
        path = Path(given)
        if not path.is_dir():
            add(path, None)
            continue
        for child in sorted(path.iterdir(), key=lambda item: item.name):
            if child.name.startswith((".", "~$")) or child.is_dir():
                continue
            add(child, None if child.suffix.lower() in IMPORT_SUFFIXES else (
                Message("not an application file ({suffix}; read: {suffixes}; an .xls or .et "
                        "workbook must first be saved as .xlsx)",
                        suffix=child.suffix or Message("no suffix"),
                        suffixes=", ".join(IMPORT_SUFFIXES))))
    return sources


def import_applications(engine: Any, paths: Sequence[str | Path], actor: Any,
                        progress: Callable[[int], None] | None = None) -> list[ImportOutcome]:
    """File every application under ``paths`` (see ``import_sources``), each its own case
    with its own audit row, through ``Engine.create_cases`` in chunks of ``IMPORT_CHUNK``
    files (one transaction each); ``progress(1)`` after each file is read."""
    outcomes: list[ImportOutcome | None] = []
    batch = _Batch(engine, actor, outcomes)
    for path, skip in import_sources(paths):
        if skip is not None:
            outcomes.append(ImportOutcome(str(path), "skipped", message=skip))
        else:
            outcomes.append(_import_one(path, batch))
        if progress is not None:
            progress(1)
    batch.flush()
    assert all(outcome is not None for outcome in outcomes)
    return [outcome for outcome in outcomes if outcome is not None]


def import_exit_code(outcomes: Sequence[ImportOutcome]) -> int:
    """0 when no file failed, else the exit code of the first that did."""
    return next((outcome.exit_code for outcome in outcomes if outcome.failed), 0)


def _import_one(path: Path, batch: _Batch) -> ImportOutcome | None:
    """The file's outcome, or ``None`` while it waits in the batch to be filed."""
    name = str(path)
    try:
        if path.suffix.lower() not in IMPORT_SUFFIXES:
            raise InvalidInput(Message("not an application file; read: {suffixes}",
                                       suffixes=", ".join(IMPORT_SUFFIXES)), field=name)
        file = read_application_file(_read(path), path.name)
        if file.header.round_year is None and not file.places:
            raise InvalidInput("a JSON or YAML file to import needs a top-level case block "
                               "{round, name, county, industry} beside the application's "
                               "fields", field=CASE_BLOCK)
        file = merge_header(file)
        if batch.waiting(file.header):
            batch.flush()  # the same case twice in one import: the first is filed first
        existing = batch.filed.find(file.header)
        if existing is not None:
            return ImportOutcome(name, "exists", case_id=existing,
                                 message=Message("already filed as case {id}; `case update "
                                                 "{id} --data FILE` replaces its data",
                                                 id=existing))
        batch.add(name, file)
        return None
    except EngineError as error:
        return _failed(name, error)
    except Exception as error:  # one file's surprise must not stop the others
        return ImportOutcome(name, "failed", exit_code=1, code="unexpected",
                             message=Message("unexpected {kind}: {text}",
                                             kind=type(error).__name__, text=error))


def _failed(name: str, error: EngineError) -> ImportOutcome:
    return ImportOutcome(name, "failed", exit_code=error.exit_code, code=error.code,
                         message=error.as_message())


#: Files filed per transaction by ``case import``.
IMPORT_CHUNK: Final = 500


class _Batch:
    """The files read and waiting to be filed, each with the place of its outcome."""

    def __init__(self, engine: Any, actor: Any, outcomes: list[ImportOutcome | None]) -> None:
        self.engine, self.actor, self.outcomes = engine, actor, outcomes
        self.filed = _Filed(engine)
        self.files: list[tuple[int, str, ApplicationFile]] = []
        self.keys: set[tuple[int, str, str]] = set()

    @staticmethod
    def _key(header: CaseHeader) -> tuple[int, str, str]:
        assert header.round_year is not None and header.county and header.name
        return header.round_year, _unit(header.county), header.name.strip()

    def waiting(self, header: CaseHeader) -> bool:
        return self._key(header) in self.keys

    def add(self, name: str, file: ApplicationFile) -> None:
        self.files.append((len(self.outcomes), name, file))
        self.keys.add(self._key(file.header))
        if len(self.files) >= IMPORT_CHUNK:
            self.flush()

    def flush(self) -> None:
        """File the waiting files; each gets its outcome (a refusal names its file's cell)."""
        files, self.files, self.keys = self.files, [], set()
        if not files:
            return

        def refused(index: int, error: EngineError) -> None:
            place, name, file = files[index]
            if isinstance(error, InvalidInput):
                error = file.locate(error)
            self.outcomes[place] = _failed(name, error)

        try:  # one chunk, one transaction: all of its files are filed, or none
            ids = self.engine.create_cases(
                ({"round_year": file.header.round_year, "name": file.header.name,
                  "county": file.header.county, "industry": file.header.industry,
                  "data": file.data, "actor": self.actor} for _, _, file in files),
                chunk=IMPORT_CHUNK, on_refusal=refused)
        except EngineError as error:
            for place, name, _ in files:
                if self.outcomes[place] is None:
                    self.outcomes[place] = _failed(name, error)
            return
        for (place, name, file), case_id in zip(files, ids, strict=True):
            if case_id is not None:
                self.filed.add(file.header, case_id)
                self.outcomes[place] = ImportOutcome(name, "created", case_id=case_id)


def _read(path: Path) -> bytes:
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise InvalidInput(Message("the file has {size} bytes; the limit is {limit}",
                                       size=size, limit=MAX_FILE_BYTES), field=str(path))
        return path.read_bytes()
    except OSError as error:
        raise InvalidInput(Message("cannot be read: {cause}", cause=error.strerror or error),
                           field=str(path)) from None


class _Filed:
    """The cases already filed, by (round, unit, name), read once per round and kept up to
    date with the import's own."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.rounds: dict[int, dict[tuple[str, str], int]] = {}

    def _round(self, year: int) -> dict[tuple[str, str], int]:
        known = self.rounds.get(year)
        if known is None:
            listing = getattr(self.engine, "list_cases", None) or self.engine.list
            known = {}
            try:
                for view in listing(round_year=year):
                    known.setdefault((view.county, view.name.strip()), view.id)
            except EngineError:
                pass  # no such round: create_case says so, with the file's place
            self.rounds[year] = known
        return known

    def find(self, header: CaseHeader) -> int | None:
        assert header.round_year is not None and header.county and header.name
        return self._round(header.round_year).get((_unit(header.county), header.name.strip()))

    def add(self, header: CaseHeader, case_id: int) -> None:
        assert header.round_year is not None and header.county and header.name
        self._round(header.round_year)[(_unit(header.county), header.name.strip())] = case_id


# --------------------------------------------------------------------------------------------
# Writing one out


def application_document(header: CaseHeader, application: Mapping[str, Any], fmt: str,
                         policy: Policy) -> bytes:
    """The application with its ``case`` block as JSON or YAML, or as the 申报表 workbook of
    its round; each is read back by ``read_application_file`` to the same data."""
    if fmt == "xlsx":
        assert header.round_year is not None
        return application_workbook(application, round_year=header.round_year, policy=policy,
                                    header=header)
    document = {CASE_BLOCK: header.to_json(), **to_json(application)}
    if fmt == "json":
        return (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
    if fmt == "yaml":
        import yaml

        return yaml.safe_dump(document, allow_unicode=True, sort_keys=False,
                              width=100).encode("utf-8")
    raise InvalidInput(Message("unknown format {fmt!r}; known: {known}", fmt=fmt,
                               known=", ".join(EXPORT_FORMATS)), field="format")



def policy_named(name: str | None) -> Policy:
    """The shipped policy ``name`` (the default policy when ``None``), or ``InvalidInput``."""
    from gdcluster.states.policy import DEFAULT_POLICY, InvalidPolicy, load_policy

    try:
        return load_policy(name or DEFAULT_POLICY)
    except (InvalidPolicy, OSError, LookupError) as error:
        raise InvalidInput(Message("unknown or invalid policy {name!r}: {error}", name=name,
                                   error=error), field="policy") from None


def template(round_year: int, policy_name: str | None = None) -> bytes:
    """The blank 申报表 of ``round_year`` under the policy (its 近三年 and its articles)."""
    return application_workbook({}, round_year=round_year, policy=policy_named(policy_name))


def export_case(engine: Any, case_id: int, fmt: str) -> bytes:
    """Case ``case_id``'s application with its ``case`` block, as ``application_document``
    writes it (the workbook in the layout of its round's 申报表)."""
    view = engine.get(case_id)
    header = CaseHeader(round_year=view.round, name=view.name, county=view.county,
                        industry=view.industry)
    return application_document(header, engine.application(case_id), fmt,
                                policy_named(view.policy))
