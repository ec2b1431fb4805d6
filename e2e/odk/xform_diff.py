#!/usr/bin/env python3
"""Differential test of `passage forms xform FILE` against pyxform 4.5 (the reference converter).

  python3 e2e/odk/xform_diff.py [--passage target/debug/passage] [--out DIR] [FILE.xls[x] ...]
  python3 e2e/odk/xform_diff.py --pyxform-only [FILE ...]   # canonicaliser self-test, and
                                       # pyxform now vs ../shared/fixtures/xlsform-expected/
  python3 e2e/odk/xform_diff.py --canon FORM.xml            # print one XForm's canonical form
Default files: forms/*.xlsx and ../shared/fixtures/xlsform/*.xls[x] (relative to the repo root,
the parent of e2e/). Needs Python 3.11 and pyxform 4.5.0. pyxform is called as its xls2xform CLI
does (no form name, so the root is `data` unless settings has `name`), with validate=False, in a
temp dir, sockets disabled. Passage runs in a temp dir; exit 0 = XForm on stdout, 1 = refusal.

Canonical form: a list of lines; two XForms are equal when the lists are. Sections:
  head/model  h:title; every <model> attribute, odk:xforms-version and entities:entities-version
              included (clients read them and they cost a converter nothing); <submission>.
  languages   the itext languages (a set) and the effective default: the one marked
              default="true()", else the first, as JavaRosa picks. A lone `default` language
              (pyxform's name for "no language given") counts as no languages.
  instance    primary instance, one line per element: path of names ([n] when siblings share a
              name), every attribute (id, version, jr:template, ...), leaf text (default value).
              Non-XForms namespaces show as a prefix, no namespace as {}name.
  choices     secondary instances by id (order ignored): attributes (src), then items in order:
              name, label (inline <label> or itextId, resolved), other columns sorted.
  bind        one line per nodeset (order ignored), attributes sorted; jr:constraintMsg and
              jr:requiredMsg resolved; defaults dropped: type="string" (JavaRosa's default),
              required/readonly="false()", relevant="true()"; `xsd:` type prefix dropped.
  action      model-level setvalue, odk:setgeopoint, ... (order ignored).
  body        document order, indented by nesting, each line naming its ref: control/group/
              repeat tag and attributes (appearance as a token set), label/hint resolved,
              itemset (nodeset, value ref; label ref `label` and `jr:itext(itextId)` both show
              as LABEL, the item labels being compared under choices), inline items, any other
              child (setvalue, osm tag, ...) generically.
Texts: itext ids never matter. A text is resolved in every language to {form: value} (form ""
is the plain text; image, audio, guidance, ...) and shown once when the same in all languages,
so an inline label equals an itext label with that text in every language. <output value=...>
stays in place with its expression normalised. Whitespace runs collapse and ends are stripped
(pyxform pads labels holding ${} with spaces, its pretty printer indents mixed content, and
table-list writes <label> </label>). Itext entries nothing refers to are ignored.
Expressions: outside string literals whitespace collapses, and is removed unless it separates
two name characters, so ` /data/a  = 'x'` == `/data/a='x'`; "x" literals are spelled 'x'.
Also ignored: attribute order, namespace prefixes, whitespace between elements.
Strict on purpose (a client would behave differently): repeat template plus the default copy,
relative (../x) vs absolute paths, itemsets vs inline items, choice order, instance ids and the
root name, pyxform's "-" placeholders for missing translations.
"""
import argparse, difflib, json, os, re, signal, socket, subprocess, sys, tempfile, warnings
import xml.etree.ElementTree as ET
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO.parent / "shared" / "fixtures"
# File name -> one-line reason Passage may refuse a form that pyxform converts (a documented
# unsupported feature). Filled by the main developer.
ALLOWED_REFUSALS: dict[str, str] = {
    "bad_calc.xlsx": "its calculation is not an expression (pyxform without ODK Validate lets it "
                     "through); Passage checks every expression when a form is uploaded",
    "case_insensitivity.xlsx": "select_one_external (choices in itemsets.csv beside the form) and "
                               "osm: data outside the workbook the server's checks cannot see",
    "choice_name_as_type.xls": "select_one_external: choices in itemsets.csv beside the form, which "
                               "the server's checks cannot see",
    "flat_xlsform_test.xlsx": "settings flat (legacy pyxform: groups without an element of their "
                              "own); submissions are read group by group",
    "loop.xlsx": "begin loop over LIST (legacy pyxform loops): a repeat does the same",
    "pull_data.xlsx": "pulldata() reads a CSV attached to the form, which the server's checks "
                      "cannot see",
    "simple_loop.xls": "begin loop over LIST (legacy pyxform loops): a repeat does the same",
}
# Expected XForms that pyxform's own tests no longer assert (--pyxform-only reports, not fails).
STALE_EXPECTED = {"table-list.xml": "not asserted upstream; predates choice lists in secondary "
                  "instances: it has inline <item>s where pyxform 4.5 writes itemsets"}

XF, H = "http://www.w3.org/2002/xforms", "http://www.w3.org/1999/xhtml"
PREFIX = {XF: "", H: "h", "http://openrosa.org/javarosa": "jr",
          "http://openrosa.org/xforms": "orx", "http://www.opendatakit.org/xforms": "odk",
          "http://www.opendatakit.org/xforms/entities": "entities",
          "http://www.w3.org/2001/XMLSchema": "xsd", "http://www.w3.org/2001/xml-events": "ev"}
EXPR_ATTRS = {"nodeset", "ref", "relevant", "constraint", "calculate", "required", "readonly",
              "jr:count", "value", "query", "odk:trigger"}
TEXT_ATTRS = {"jr:constraintMsg", "jr:requiredMsg"}
BIND_DEFAULTS = {("type", "string"), ("required", "false()"), ("readonly", "false()"),
                 ("relevant", "true()")}
ACTIONS = {"setvalue", "odk:setgeopoint", "odk:recordaudio"}
_LIT = re.compile(r"('[^']*'|\"[^\"]*\")")
_NAME = re.compile(r"[\w.\-]")


def qn(name: str, element=True) -> str:
    """'{uri}local' -> 'prefix:local'; XForms elements bare, no-namespace elements '{}local'."""
    if not name.startswith("{"):
        return "{}" + name if element else name
    uri, local = name[1:].split("}", 1)
    if uri not in PREFIX:
        return name
    return f"{PREFIX[uri]}:{local}" if PREFIX[uri] else local


def q(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)


def norm_ws(s: str | None) -> str:
    return " ".join((s or "").split())


def norm_expr(s: str | None) -> str:
    """Canonical XPath spelling: drop whitespace that cannot separate two tokens."""
    parts = _LIT.split(s or "")
    for i, part in enumerate(parts):
        if i % 2:  # a string literal: kept verbatim, "x" spelled 'x'
            parts[i] = "'" + part[1:-1] + "'" if "'" not in part else part
        else:
            def space(m, part=part):
                before, after = part[m.start() - 1:m.start()], part[m.end():m.end() + 1]
                return " " if _NAME.match(before or "(") and _NAME.match(after or "(") else ""
            parts[i] = re.sub(r"\s+", space, part)
    return "".join(parts)


def attrs(el: ET.Element, skip=()) -> str:
    out = []
    for k, v in sorted((qn(k, element=False), v) for k, v in el.attrib.items()):
        if k in skip:
            continue
        if k == "appearance":  # clients test appearance tokens one by one
            v = " ".join(sorted(v.split()))
        out.append(f" {k}={q(norm_expr(v) if k in EXPR_ATTRS else norm_ws(v))}")
    return "".join(out)


def mixed(el: ET.Element) -> str:
    """Text of an element with <output value=...> (and any other child) kept inline."""
    parts = [el.text or ""]
    for c in el:
        if qn(c.tag) == "output":
            parts.append(f'<output value="{norm_expr(c.get("value"))}"/>')
        else:
            parts.append(f"<{qn(c.tag)}{attrs(c)}>{mixed(c)}</{qn(c.tag)}>")
        parts.append(c.tail or "")
    return norm_ws("".join(parts))


def child(el: ET.Element, name: str) -> ET.Element | None:
    return el.find(f"{{{XF}}}{name}")


class Form:
    """One parsed XForm and its itext, rendering texts resolved over all languages."""

    def __init__(self, xml: str | bytes):
        self.root = ET.fromstring(xml)
        self.model = self.root.find(f"{{{H}}}head/{{{XF}}}model")
        if self.model is None:
            raise ValueError("no h:head/model")
        self.itext: dict[str, dict[str, dict[str, str]]] = {}  # id -> lang -> form -> text
        self.langs, self.default = [], None
        for tr in self.model.iterfind(f"{{{XF}}}itext/{{{XF}}}translation"):
            lang = tr.get("lang", "")
            self.langs.append(lang)
            if tr.get("default", "").strip() in ("true()", "true") and self.default is None:
                self.default = lang
            for t in tr.iterfind(f"{{{XF}}}text"):
                forms = self.itext.setdefault(t.get("id", ""), {}).setdefault(lang, {})
                for v in t.iterfind(f"{{{XF}}}value"):
                    forms[v.get("form", "")] = mixed(v)
        if self.langs == ["default"]:
            self.langs = []

    def render(self, per_lang: dict[str, dict[str, str]]) -> str:
        def one(forms):
            shown = (q(v) if f == "" else f"{f}:{q(v)}" for f, v in sorted(forms.items()))
            return " ".join(shown) or '""'
        shown = {lang: one(forms) for lang, forms in per_lang.items()}
        if len(set(shown.values())) == 1:
            return next(iter(shown.values()))
        return "{" + ", ".join(f"{q(k)}: {v}" for k, v in sorted(shown.items())) + "}"

    def itext_text(self, ref: str) -> str:
        """`jr:itext('id')` or a bare id, resolved in every language of the form."""
        m = re.fullmatch(r"\s*jr:itext\(\s*['\"](.*)['\"]\s*\)\s*", ref)
        tid = m.group(1) if m else ref.strip()
        if tid not in self.itext:
            return f"<missing itext {q(tid)}>"
        entry = self.itext[tid]
        return self.render({lang: entry.get(lang, {"": "<missing in this language>"})
                            for lang in (self.langs or entry)})

    def inline_text(self, text: str) -> str:
        return self.render({lang: {"": text} for lang in (self.langs or ["*"])})

    def text_of(self, el: ET.Element | None) -> str:
        """A <label>/<hint>: itext ref, other ref, or inline text."""
        if el is None:
            return "<none>"
        ref = el.get("ref")
        if ref and "jr:itext" in ref:
            inline = mixed(el)
            return self.itext_text(ref) + (f" + inline {q(inline)}" if inline else "")
        return f"ref={q(norm_expr(ref))}" if ref else self.inline_text(mixed(el))

    def message(self, value: str) -> str:
        return self.itext_text(value) if "jr:itext" in value else self.inline_text(norm_ws(value))


def instance_lines(el: ET.Element, path: str, out: list[str], section="instance"):
    kids = list(el)
    text = (el.text or "").strip() if kids else (el.text or "")
    out.append(f"{section} {path}{attrs(el)}" + (f" = {q(text)}" if text else ""))
    seen: dict[str, int] = {}
    for c in kids:
        name = qn(c.tag)
        seen[name] = seen.get(name, 0) + 1
        many = sum(1 for x in kids if x.tag == c.tag) > 1
        instance_lines(c, f"{path}/{name}" + (f"[{seen[name]}]" if many else ""), out, section)
        if (c.tail or "").strip():
            out.append(f"{section} {path} text {q(c.tail.strip())}")


def choices_lines(form: Form, inst: ET.Element) -> list[str]:
    iid, head, kids = inst.get("id", ""), attrs(inst, skip=("id",)), list(inst)
    items = kids[0] if len(kids) == 1 and qn(kids[0].tag) == "root" else None
    if items is None or any(qn(i.tag) != "item" for i in items):  # not a choice list: dump it
        out = [f"choices {iid}{head}"]
        for k in kids:
            instance_lines(k, f"{iid}:{qn(k.tag)}", out, section="choices")
        return out
    out = [f"choices {iid}{head} ({len(items)} items)"]
    for n, item in enumerate(items, 1):
        fields = {qn(c.tag): c for c in item}
        name = q((fields.pop("name").text or "").strip()) if "name" in fields else "<no name>"
        if "itextId" in fields:
            label = form.itext_text(fields.pop("itextId").text or "")
        elif "label" in fields:
            label = form.inline_text(mixed(fields.pop("label")))
        else:
            label = "<none>"
        rest = "".join(f" {k}={q(norm_ws(v.text))}" for k, v in sorted(fields.items()))
        out.append(f"choices {iid}[{n}] name={name} label={label}{rest}")
    return out


def bind_lines(form: Form) -> list[str]:
    binds: dict[str, list[str]] = {}
    for b in form.model.iterfind(f"{{{XF}}}bind"):
        parts = []
        for k, v in sorted((qn(k, element=False), v.strip()) for k, v in b.attrib.items()):
            v = v.removeprefix("xsd:") if k == "type" else v
            if k == "nodeset" or (k, v) in BIND_DEFAULTS:
                continue
            if k in TEXT_ATTRS:
                parts.append(f" {k}={form.message(v)}")
            else:
                parts.append(f" {k}={q(norm_expr(v) if k in EXPR_ATTRS else norm_ws(v))}")
        binds.setdefault(norm_expr(b.get("nodeset")), []).append("".join(parts))
    return sorted(f"bind {node}{f'#{i}' if i else ''}{a}"
                  for node, lst in binds.items() for i, a in enumerate(lst))


def body_lines(form: Form, el: ET.Element, where: str, depth: int, out: list[str]):
    pad = "body " + "  " * depth
    for n, c in enumerate(el, 1):
        tag = qn(c.tag)
        if tag in ("label", "hint"):
            out.append(f"{pad}{where} {tag} {form.text_of(c)}")
        elif tag == "itemset":
            lab, val = child(c, "label"), child(c, "value")
            lref = (lab.get("ref") or "").strip() if lab is not None else "<none>"
            lref = "LABEL" if lref in ("label", "jr:itext(itextId)") else q(norm_expr(lref))
            vref = q(norm_expr(val.get("ref"))) if val is not None else "<none>"
            nodeset = q(norm_expr(c.get("nodeset")))
            out.append(f"{pad}{where} itemset {nodeset} value={vref} label={lref}")
            out += [f"{pad}{where} itemset {qn(x.tag)}{attrs(x)} {q(mixed(x))}"
                    for x in c if qn(x.tag) not in ("label", "value")]
        elif tag == "item":
            val = child(c, "value")
            out.append(f"{pad}{where} item value={q(mixed(val) if val is not None else '')}"
                       f" label={form.text_of(child(c, 'label'))}")
        else:  # control, group, repeat: its ref names the lines below; anything else: generic
            ref = None if tag in ACTIONS else (c.get("ref") or c.get("nodeset"))
            here = norm_expr(ref) if ref else f"{where}/{tag}[{n}]"
            text = "" if len(c) else mixed(c)
            out.append(f"{pad}{here} {tag}{attrs(c, skip=('ref', 'nodeset') if ref else ())}"
                       + (f" text={q(text)}" if text else ""))
            body_lines(form, c, here, depth + 1, out)


def canonicalise(xml: str | bytes) -> list[str]:
    form, out, actions = Form(xml), [], []
    for c in form.root.find(f"{{{H}}}head"):
        if c.tag == f"{{{H}}}title":
            out.append(f"head title {q(norm_ws(c.text))}")
        elif c is not form.model:
            out.append(f"head {qn(c.tag)}{attrs(c)} {q(mixed(c))}")
    out.append(f"model{attrs(form.model)}")
    if form.langs:
        out.append(f"languages default={q(form.default or form.langs[0])} all="
                   + json.dumps(sorted(form.langs), ensure_ascii=False))
    instances = form.model.findall(f"{{{XF}}}instance")
    if not instances or len(instances[0]) != 1:
        raise ValueError("no primary instance with one root element")
    instance_lines(instances[0][0], "/" + qn(instances[0][0].tag), out)
    for inst in sorted(instances[1:], key=lambda i: i.get("id", "")):
        out += choices_lines(form, inst)
    out += bind_lines(form)
    for c in form.model:
        tag = qn(c.tag)
        if tag == "submission":
            out.append(f"submission{attrs(c)}")
        elif tag not in ("instance", "bind", "itext"):
            actions.append(f"action {tag}{attrs(c)}" + (f" text={q(mixed(c))}" if mixed(c) else ""))
    out += sorted(actions)
    body = form.root.find(f"{{{H}}}body")
    if body is not None:
        out.append(f"body{attrs(body)}")
        body_lines(form, body, "", 0, out)
    return out


def pyxform_convert(path: Path, form_name: str | None = None) -> tuple[str | None, str]:
    """(xform, "") or (None, pyxform's error)."""
    from pyxform.xls2xform import convert
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # openpyxl chatter
        os.chdir(tmp)
        try:
            result = convert(xlsform=str(path), validate=False, pretty_print=True,
                             form_name=form_name)
            return result.xform, ""
        except Exception as e:  # PyXFormError mostly; any failure is a refusal
            return None, f"{type(e).__name__}: {norm_ws(str(e))[:300]}"
        finally:
            os.chdir(cwd)


def diff(want: list[str], got: list[str], limit=30) -> list[str]:
    lines = [l for l in difflib.unified_diff(want, got, n=0, lineterm="")
             if l[:1] in "+-" and not l.startswith(("---", "+++"))]
    more = [f"    ... {len(lines) - limit} more differing lines"] if len(lines) > limit else []
    return ["    " + l for l in lines[:limit]] + more


def rel(p: Path) -> str:
    return os.path.relpath(p, REPO)


def check_file(path: Path, passage: Path, out_dir: Path | None) -> tuple[bool, str, list[str]]:
    """(passed, one status line, diff lines) for one XLSForm."""
    ref, err = pyxform_convert(path)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            p = subprocess.run([str(passage), "forms", "xform", str(path)], cwd=tmp,
                               capture_output=True, timeout=120)
        except subprocess.TimeoutExpired:
            return False, f"DIFFER           {rel(path)}  passage timed out", []
    msg = norm_ws(p.stderr.decode("utf-8", "replace"))[:300]
    if out_dir:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / f"{path.name}.pyxform.xml").write_text(ref or err)
        (out_dir / f"{path.name}.passage.xml").write_bytes(p.stderr if p.returncode else p.stdout)
    if p.returncode not in (0, 1):
        return False, f"DIFFER           {rel(path)}  passage exit {p.returncode}: {msg}", []
    if ref is None:
        if p.returncode == 1:
            return True, f"PYXFORM_REFUSES  {rel(path)}  ok, both refuse. {err} | passage: {msg}", []
        return False, f"PYXFORM_REFUSES  {rel(path)}  FAIL: Passage accepts it. pyxform: {err}", []
    if p.returncode == 1:
        reason = ALLOWED_REFUSALS.get(path.name)
        if reason:
            return True, f"PASSAGE_REFUSES  {rel(path)}  allowed ({reason}): {msg}", []
        return False, f"PASSAGE_REFUSES  {rel(path)}  FAIL, not in ALLOWED_REFUSALS: {msg}", []
    try:
        got = canonicalise(p.stdout)
    except (ET.ParseError, ValueError) as e:
        return False, f"DIFFER           {rel(path)}  passage output is not an XForm: {e}", []
    want = canonicalise(ref)
    if got != want:
        return False, f"DIFFER           {rel(path)}  (- pyxform, + passage)", diff(want, got)
    stale = "  (its ALLOWED_REFUSALS entry is stale)" if path.name in ALLOWED_REFUSALS else ""
    return True, f"MATCH            {rel(path)}{stale}", []


def self_test(path: Path) -> tuple[bool, str, list[str]]:
    """Canonicalise pyxform's output; where pyxform ships an expected XForm, compare with it."""
    xml, err = pyxform_convert(path)
    if xml is None:
        return True, f"PYXFORM_REFUSES  {rel(path)}  {err}", []
    try:
        n = len(canonicalise(xml))
    except Exception as e:
        return False, f"CANON_CRASH      {rel(path)}  {type(e).__name__}: {e}", []
    expected = FIXTURES / "xlsform-expected" / f"{path.stem}.xml"
    if not expected.exists():
        return True, f"OK               {rel(path)}  ({n} canonical lines)", []
    if expected.name in STALE_EXPECTED:
        return True, f"OK               {rel(path)}  (not compared: {STALE_EXPECTED[expected.name]})", []
    # pyxform's test names the root after the file stem (survey_no_name.xlsx: default name).
    exp_xml = expected.read_bytes()
    root = child(Form(exp_xml).model, "instance")[0]
    now, _ = pyxform_convert(path, form_name=qn(root.tag))
    want, got = canonicalise(exp_xml), canonicalise(now)
    if want == got:
        return True, f"OK               {rel(path)}  ({n} lines; equals {rel(expected)})", []
    return False, f"EXPECTED_DIFFERS {rel(path)}  (- {rel(expected)}, + pyxform now)", diff(want, got)


def default_files() -> list[Path]:
    fixtures = [p for p in (FIXTURES / "xlsform").glob("*") if p.suffix in (".xls", ".xlsx")]
    return sorted((REPO / "forms").glob("*.xlsx")) + sorted(fixtures)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--passage", type=Path, default=REPO / "target" / "debug" / "passage",
                    help="the Passage binary (default: target/debug/passage in the repo)")
    ap.add_argument("--canon", type=Path, metavar="FORM.xml", help="print one XForm's canonical form")
    ap.add_argument("--pyxform-only", action="store_true", help="self-test the canonicaliser")
    ap.add_argument("--out", type=Path, help="also write both converters' outputs to this dir")
    ap.add_argument("files", nargs="*", type=Path)
    args = ap.parse_args()
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # quiet under `| head`
    if args.canon:
        print("\n".join(canonicalise(args.canon.read_bytes())))
        return 0

    def no_network(*_a, **_k):
        raise OSError("network disabled in xform_diff")
    socket.socket.connect = no_network
    files = [f.resolve() for f in args.files] or default_files()
    passage = args.passage.absolute()
    if not args.pyxform_only and not passage.exists():
        print(f"passage binary not found: {args.passage} (cargo build first)", file=sys.stderr)
        return 2
    passed = failed = 0
    for path in files:
        if args.pyxform_only:
            ok, line, detail = self_test(path)
        else:
            ok, line, detail = check_file(path, passage, args.out)
        print("\n".join([line] + detail), flush=True)
        passed, failed = passed + ok, failed + (not ok)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
