// CollectLike — a headless "ODK Collect" for end-to-end tests of an OpenRosa 1.0 server.
//
// It uses Collect's own form engine, JavaRosa (5.1.0, shipped inside ODK_Validate.jar of the PyPI
// wheel pyxform==4.5.0), and mirrors what Collect does on the wire:
//   formList -> form download (+ manifest/media) -> fill the form -> serialise the instance ->
//   HEAD /submission (expect 204) -> multipart POST(s) /submission (expect 201/202).
//
// Build and run (JAR = <site-packages>/pyxform/validators/odk_validate/bin/ODK_Validate.jar):
//   javac -cp "$JAR" -d e2e/odk/build e2e/odk/CollectLike.java
//   java -cp "$JAR:e2e/odk/build" CollectLike --server BASE_URL --form FORM_ID [--repeats N]
//        [--attach FILE]... [--out DIR] [--user U --password P] [--max-bytes N] [--text VALUE] [--verbose]
//
// --attach may be repeated: binary questions take the files in turn, and every file is uploaded
// (Collect uploads every file in the instance folder). --text replaces the default free-text
// answer "Demo Collectlike" (e.g. to test UTF-8 and XML escaping on the server).
//
// On success it prints ONE line of JSON on stdout; on any failure it prints the reason on stderr
// and exits 1. Source references ("Collect: ...") name the Collect class whose behaviour a piece
// of code mirrors (getodk/collect, module open-rosa/ and collect_app/).

import org.javarosa.core.model.Constants;
import org.javarosa.core.model.FormDef;
import org.javarosa.core.model.FormIndex;
import org.javarosa.core.model.SelectChoice;
import org.javarosa.core.model.ValidateOutcome;
import org.javarosa.core.model.condition.Constraint;
import org.javarosa.core.model.condition.pivot.DateRangeHint;
import org.javarosa.core.model.condition.pivot.DecimalRangeHint;
import org.javarosa.core.model.condition.pivot.IntegerRangeHint;
import org.javarosa.core.model.condition.pivot.RangeHint;
import org.javarosa.core.model.data.DateData;
import org.javarosa.core.model.data.DateTimeData;
import org.javarosa.core.model.data.DecimalData;
import org.javarosa.core.model.data.GeoPointData;
import org.javarosa.core.model.data.IAnswerData;
import org.javarosa.core.model.data.IntegerData;
import org.javarosa.core.model.data.SelectMultiData;
import org.javarosa.core.model.data.SelectOneData;
import org.javarosa.core.model.data.StringData;
import org.javarosa.core.model.data.TimeData;
import org.javarosa.core.model.data.helper.Selection;
import org.javarosa.core.model.instance.InstanceInitializationFactory;
import org.javarosa.core.model.instance.TreeElement;
import org.javarosa.core.model.instance.TreeReference;
import org.javarosa.core.services.IPropertyManager;
import org.javarosa.core.services.PropertyManager;
import org.javarosa.core.services.properties.IPropertyRules;
import org.javarosa.core.services.transport.payload.ByteArrayPayload;
import org.javarosa.form.api.FormEntryController;
import org.javarosa.form.api.FormEntryModel;
import org.javarosa.form.api.FormEntryPrompt;
import org.javarosa.model.xform.XFormSerializingVisitor;
import org.javarosa.xform.util.XFormUtils;
import org.javarosa.xpath.XPathConditional;
import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.Node;

import javax.xml.parsers.DocumentBuilderFactory;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.text.SimpleDateFormat;
import java.time.Duration;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.LocalTime;
import java.time.ZoneId;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Date;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TimeZone;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

public class CollectLike {

    static final String DEVICE_ID = "collectlike:0001";
    static final String USERNAME = "collectlike";
    static final String NS_FORMLIST = "http://openrosa.org/xforms/xformsList";
    static final String NS_MANIFEST = "http://openrosa.org/xforms/xformsManifest";
    static final String NS_RESPONSE = "http://openrosa.org/http/response";
    // Collect's User-Agent is "<http.agent> org.odk.collect.android/<version>" (Collect: Collect.java
    // getUserAgentString); we keep that shape so server-side UA parsing sees something realistic.
    static final String USER_AGENT =
            "Dalvik/2.1.0 (Linux; U; Android 13; CollectLike Build/JavaRosa-5.1.0) "
                    + "org.odk.collect.android/v2025.2.0-collectlike";
    // Collect: OpenRosaServerInstanceUploader — default when the HEAD response has no
    // X-OpenRosa-Accept-Content-Length header.
    static final long DEFAULT_ACCEPT_LENGTH = 10_000_000L;
    // Collect: OkHttpConnection.uploadSubmissionAndFiles / SubmissionChunker — at most 100 files per POST.
    static final int MAX_FILES_PER_POST = 100;
    static final int MAX_RESTARTS = 60;
    // Selects with more choices than this (country lists...) are not coverage-ordered.
    static final int COVERAGE_MAX_CHOICES = 25;

    // ---- options ---------------------------------------------------------------------------
    String server;
    String formId;
    int repeats = 1;
    List<Path> attach = new ArrayList<>();
    Path out;
    String user;
    String password;
    long maxBytes = -1;
    boolean verbose;
    String text = "Demo Collectlike";

    Http http;

    public static void main(String[] args) {
        // java.net.http refuses to send a caller-supplied Date header unless it is whitelisted;
        // Collect sends one on every request (see Http.send), so allow it before the client loads.
        System.setProperty("jdk.httpclient.allowRestrictedHeaders", "date");
        CollectLike c = new CollectLike();
        try {
            c.parseArgs(args);
            String json = c.run();
            System.out.println(json);
            System.exit(0);
        } catch (Fail f) {
            System.err.println("collectlike: FAILED: " + f.getMessage());
            System.exit(1);
        } catch (Throwable t) {
            System.err.println("collectlike: FAILED with " + t);
            t.printStackTrace(System.err);
            System.exit(1);
        }
    }

    static final class Fail extends RuntimeException {
        private static final long serialVersionUID = 1L;
        Fail(String msg) { super(msg); }
    }

    void parseArgs(String[] a) throws IOException {
        for (int i = 0; i < a.length; i++) {
            String k = a[i];
            if (k.equals("--verbose")) { verbose = true; continue; }
            if (i + 1 >= a.length) throw new Fail("missing value for " + k);
            String v = a[++i];
            switch (k) {
                case "--server": server = v.replaceAll("/+$", ""); break;
                case "--form": formId = v; break;
                case "--repeats": repeats = Integer.parseInt(v); break;
                case "--attach": attach.add(Paths.get(v).toAbsolutePath()); break;
                case "--out": out = Paths.get(v).toAbsolutePath(); break;
                case "--user": user = v; break;
                case "--password": password = v; break;
                case "--max-bytes": maxBytes = Long.parseLong(v); break;
                case "--text": text = v; break;
                default: throw new Fail("unknown option " + k + usage());
            }
        }
        if (server == null || formId == null) throw new Fail("--server and --form are required" + usage());
        if (repeats < 1) throw new Fail("--repeats must be >= 1 (the XForm already holds one repeat instance)");
        if ((user == null) != (password == null)) throw new Fail("--user and --password go together");
        for (Path p : attach) if (!Files.isRegularFile(p)) throw new Fail("--attach: no such file " + p);
        if (out == null) out = Files.createTempDirectory("collectlike-");
        Files.createDirectories(out);
    }

    static String usage() {
        return "\nusage: CollectLike --server BASE_URL --form FORM_ID [--repeats N] [--attach FILE]..."
                + " [--out DIR] [--user U --password P] [--max-bytes N] [--text VALUE] [--verbose]";
    }

    void log(String s) { if (verbose) System.err.println("collectlike: " + s); }

    // =========================================================================================
    // Main flow
    // =========================================================================================
    String run() throws Exception {
        http = new Http(user, password);

        // 1. Form list. Collect: OpenRosaClient.fetchFormList -> <server>/formList (+ ?deviceID=).
        Map<String, String> entry = fetchFormList();
        String version = entry.getOrDefault("version", "");

        // 2. Form download + hash check; manifest + media files.
        HttpResponse<byte[]> formResp = http.get(entry.get("downloadUrl"), null);
        byte[] formXml = formResp.body();
        String listedHash = entry.get("hash");
        String actual = "md5:" + md5hex(formXml);
        if (listedHash == null || !listedHash.startsWith("md5:"))
            throw new Fail("formList entry for " + formId + " has no md5: hash (got " + listedHash + ")");
        if (!listedHash.equalsIgnoreCase(actual))
            throw new Fail("form hash mismatch: formList says " + listedHash + " but downloaded bytes are "
                    + actual + " (" + formXml.length + " bytes from " + entry.get("downloadUrl") + ")");
        log("downloaded form " + formId + " version " + version + " (" + formXml.length + " bytes, " + actual + ")");
        if (entry.get("manifestUrl") != null) fetchManifest(entry.get("manifestUrl"));

        // 3. Fill the form with JavaRosa.
        installPropertyManager();
        Filled filled = fillForm(formXml);

        // 4. Serialise and save the instance. Collect: SaveFormToDisk writes
        // instances/<form name>_<yyyy-MM-dd_HH-mm-ss>/<same>.xml.
        String ts = new SimpleDateFormat("yyyy-MM-dd_HH-mm-ss", Locale.ENGLISH).format(new Date());
        Path instFile = out.resolve(safeName(formId) + "_" + ts + ".xml");
        for (int n = 1; Files.exists(instFile); n++) instFile = out.resolve(safeName(formId) + "_" + ts + "_" + n + ".xml");
        Files.write(instFile, filled.xml);
        log("wrote " + instFile + " (" + filled.xml.length + " bytes), instanceID " + filled.instanceId);

        // 5. Submit.
        List<Path> files = new ArrayList<>(attach);   // Collect uploads every file in the instance folder
        Submit s = submit(instFile, files);

        StringBuilder j = new StringBuilder("{");
        j.append("\"form_id\":").append(js(formId));
        j.append(",\"version\":").append(js(version));
        j.append(",\"instance_id\":").append(js(filled.instanceId));
        j.append(",\"instance_file\":").append(js(instFile.toString()));
        j.append(",\"attachments\":[");
        for (int i = 0; i < files.size(); i++) j.append(i == 0 ? "" : ",").append(js(files.get(i).getFileName().toString()));
        j.append("],\"posts\":[");
        for (int i = 0; i < s.codes.size(); i++) j.append(i == 0 ? "" : ",").append(s.codes.get(i));
        j.append("],\"message\":").append(js(s.message));
        j.append(",\"questions_answered\":").append(filled.answered);
        j.append(",\"restarts\":").append(filled.restarts);
        j.append("}");
        return j.toString();
    }

    // =========================================================================================
    // 1./2. formList, form, manifest
    // =========================================================================================
    Map<String, String> fetchFormList() throws Exception {
        String url = server + "/formList";
        // Collect: OkHttpConnection.executeGetRequest(uri, "text/xml") — status must be 200 and the
        // Content-Type must *contain* text/xml, else "This is often caused by a network proxy".
        HttpResponse<byte[]> r = http.get(url, "text/xml");
        // Collect: HttpGetResult.isOpenRosaResponse — a formList without X-OpenRosa-Version is
        // "not an OpenRosa server".
        requireOpenRosaHeader(r, url);
        Document doc = parseXml(r.body(), url);
        Element root = doc.getDocumentElement();
        if (!"xforms".equals(root.getLocalName()) || !NS_FORMLIST.equals(root.getNamespaceURI()))
            throw new Fail("formList root is {" + root.getNamespaceURI() + "}" + root.getLocalName()
                    + ", expected {" + NS_FORMLIST + "}xforms");
        List<Map<String, String>> forms = new ArrayList<>();
        for (Element xf : children(root, NS_FORMLIST, "xform")) {
            Map<String, String> m = new LinkedHashMap<>();
            for (Element c : children(xf, NS_FORMLIST, null)) m.put(c.getLocalName(), c.getTextContent().trim());
            // Collect: Kxml2OpenRosaResponseParser.parseFormList — an entry without formID, name or
            // downloadUrl makes the *whole* list invalid.
            for (String req : new String[]{"formID", "name", "downloadUrl"})
                if (m.get(req) == null || m.get(req).isEmpty())
                    throw new Fail("formList <xform> without <" + req + ">: " + m + " (Collect rejects the whole list)");
            forms.add(m);
        }
        for (Map<String, String> m : forms) if (m.get("formID").equals(formId)) {
            log("formList: " + forms.size() + " form(s); " + formId + " -> " + m);
            return m;
        }
        List<String> ids = new ArrayList<>();
        for (Map<String, String> m : forms) ids.add(m.get("formID"));
        throw new Fail("form " + formId + " not in formList " + url + " (has " + ids + ")");
    }

    void fetchManifest(String url) throws Exception {
        HttpResponse<byte[]> r = http.get(url, "text/xml");
        requireOpenRosaHeader(r, url);
        Element root = parseXml(r.body(), url).getDocumentElement();
        if (!"manifest".equals(root.getLocalName()) || !NS_MANIFEST.equals(root.getNamespaceURI()))
            throw new Fail("manifest root is {" + root.getNamespaceURI() + "}" + root.getLocalName());
        Path mediaDir = out.resolve(safeName(formId) + "-media");
        Files.createDirectories(mediaDir);
        for (Element mf : children(root, NS_MANIFEST, "mediaFile")) {
            String fn = text(mf, NS_MANIFEST, "filename");
            String hash = text(mf, NS_MANIFEST, "hash");
            String dl = text(mf, NS_MANIFEST, "downloadUrl");
            if (fn == null || dl == null) throw new Fail("manifest <mediaFile> without filename/downloadUrl");
            // Collect keeps only the basename of <filename>.
            fn = Paths.get(fn).getFileName().toString();
            byte[] data = http.get(dl, null).body();
            String actual = "md5:" + md5hex(data);
            String type = mf.getAttribute("type");
            if (hash != null && hash.startsWith("md5:") && !hash.equalsIgnoreCase(actual)) {
                // Entity lists carry an opaque version tag (Central: md5 of the last update time).
                if (type.endsWith("ntityList")) log("media " + fn + ": hash " + hash + " is a version tag (" + type + ")");
                else throw new Fail("media hash mismatch for " + fn + ": manifest " + hash + ", downloaded " + actual);
            }
            Files.write(mediaDir.resolve(fn), data);
            log("media " + fn + " (" + data.length + " bytes) ok");
        }
    }

    static void requireOpenRosaHeader(HttpResponse<?> r, String url) {
        String v = r.headers().firstValue("X-OpenRosa-Version").orElse(null);
        if (v == null) throw new Fail(url + ": response lacks X-OpenRosa-Version (Collect: not an OpenRosa server)");
        if (!v.trim().equals("1.0")) throw new Fail(url + ": X-OpenRosa-Version is " + v + ", expected 1.0");
    }

    // =========================================================================================
    // 3. Filling the form
    // =========================================================================================

    /** deviceid / username for jr:preload="property" (Collect: PropertyManager in collect_app). */
    static void installPropertyManager() {
        final Map<String, String> props = new HashMap<>();
        props.put("deviceid", DEVICE_ID);
        props.put("username", USERNAME);
        props.put("phonenumber", "");
        props.put("email", "");
        PropertyManager.setPropertyManager(new IPropertyManager() {
            public List<String> getProperty(String name) {
                String v = props.get(name.toLowerCase(Locale.ROOT));
                return v == null ? null : Collections.singletonList(v);
            }
            public void setProperty(String name, String value) { props.put(name, value); }
            public void setProperty(String name, List<String> values) { props.put(name, values.isEmpty() ? "" : values.get(0)); }
            public String getSingularProperty(String name) { return props.get(name.toLowerCase(Locale.ROOT)); }
            public void addRules(IPropertyRules rules) { }
            public List<IPropertyRules> getRules() { return new ArrayList<>(); }
        });
    }

    /** One candidate answer: a stable key (for pinning across restarts) and the JavaRosa value. */
    static final class Cand {
        final String key;
        final IAnswerData data;
        Cand(String key, IAnswerData data) { this.key = key; this.data = data; }
        @Override public String toString() { return key; }
    }

    /** A question answered during one walk. */
    static final class Answered {
        final FormIndex index;
        final String ref;       // concrete, e.g. /data/household[2]/hh_sex
        final String generic;   // without multiplicities, e.g. /data/household/hh_sex
        final List<Cand> cands;
        final int chosen;
        Answered(FormIndex index, String ref, String generic, List<Cand> cands, int chosen) {
            this.index = index; this.ref = ref; this.generic = generic; this.cands = cands; this.chosen = chosen;
        }
    }

    static final class Filled {
        byte[] xml;
        String instanceId;
        int answered;
        int restarts;
    }

    /** Thrown inside a walk when an earlier answer was changed and the walk must start over. */
    static final class Restart extends Exception {
        private static final long serialVersionUID = 1L;
        Restart(String why) { super(why, null, false, false); }
    }

    // Cross-walk state. A "pin" forces a question (by concrete ref) to take a given candidate key
    // first; pins are created when a later question's constraint could only be satisfied (or only
    // satisfied with its preferred value) after changing that earlier answer.
    final Map<String, String> pins = new LinkedHashMap<>();
    final Set<String> noFix = new HashSet<>();
    boolean softFixes = true;

    Filled fillForm(byte[] formXml) throws Exception {
        int restarts = 0;
        while (true) {
            try {
                Filled f = walk(formXml);
                f.restarts = restarts;
                return f;
            } catch (Restart r) {
                restarts++;
                log("restart " + restarts + ": " + r.getMessage());
                if (restarts > MAX_RESTARTS) {
                    if (!softFixes) throw new Fail("gave up after " + MAX_RESTARTS + " restarts");
                    // Fall back to only the pins that rescued a question which had no valid answer.
                    log("too many restarts; retrying without preference fixes");
                    softFixes = false;
                    pins.values().removeIf(v -> v.startsWith("soft|"));
                    noFix.clear();
                    restarts = 0;
                }
            } catch (Fail f) {
                if (softFixes && pins.values().stream().anyMatch(v -> v.startsWith("soft|"))) {
                    // A preference fix may have painted us into a corner: retry once without them.
                    log("walk failed (" + f.getMessage() + "); retrying without preference fixes");
                    softFixes = false;
                    pins.values().removeIf(v -> v.startsWith("soft|"));
                    noFix.clear();
                    continue;
                }
                throw f;
            }
        }
    }

    Filled walk(byte[] formXml) throws Exception {
        FormDef fd = XFormUtils.getFormFromInputStream(new ByteArrayInputStream(formXml));
        FormEntryModel model = new FormEntryModel(fd);
        FormEntryController fec = new FormEntryController(model);
        // Collect: FormLoaderTask — initialize(newInstance=true) runs jr:preload (uid -> instanceID,
        // timestamps, property) and odk-instance-first-load actions (setvalue defaults).
        fd.initialize(true, new InstanceInitializationFactory());
        List<Answered> answered = new ArrayList<>();
        int binaryCount = 0;

        for (int ev = fec.stepToNextEvent(); ev != FormEntryController.EVENT_END_OF_FORM; ev = fec.stepToNextEvent()) {
            FormIndex idx = model.getFormIndex();
            if (ev == FormEntryController.EVENT_PROMPT_NEW_REPEAT) {
                // Collect shows "Add another <group>?"; the prompt's multiplicity = instances so far.
                int existing = idx.getElementMultiplicity();
                if (existing < repeats) {
                    fec.newRepeat();
                    log("repeat " + idx.getReference().genericize().toString(false) + ": added instance " + (existing + 1));
                }
                continue;
            }
            if (ev != FormEntryController.EVENT_QUESTION) continue;   // groups / repeats: step in
            FormEntryPrompt p = model.getQuestionPrompt();
            if (p.isReadOnly()) continue;                             // notes, read_only
            TreeReference tref = idx.getReference();
            String ref = tref.toString(true);
            String generic = tref.genericize().toString(false);

            List<Cand> cands;
            if (p.getDataType() == Constants.DATATYPE_BINARY || isMediaControl(p.getControlType())) {
                if (attach.isEmpty()) {
                    if (p.isRequired()) throw new Fail(describe(p, generic) + " is a required binary question; pass --attach FILE");
                    log("skip binary " + generic + " (no --attach)");
                    continue;
                }
                // Collect: media widgets store the bare file name (the file itself sits next to
                // the instance XML and is uploaded as a part named after it).
                Path f = attach.get(binaryCount++ % attach.size());
                cands = new ArrayList<>(List.of(new Cand(f.getFileName().toString(), new StringData(f.getFileName().toString()))));
            } else {
                cands = candidates(p, generic);
            }
            if (isSelect(p) && cands.size() > 1 && cands.size() <= COVERAGE_MAX_CHOICES)
                orderByCoverage(fec, model, idx, cands, verbose ? this::log : null);
            String pin = pins.get(ref);
            if (pin != null) {
                String key = pin.substring(pin.indexOf('|') + 1);
                for (int i = 0; i < cands.size(); i++) if (cands.get(i).key.equals(key)) {
                    Cand c = cands.remove(i);
                    cands.add(0, c);
                    break;
                }
            }

            List<String> tried = new ArrayList<>();
            int chosen = -1;
            int firstOutcome = -99;
            for (int i = 0; i < cands.size(); i++) {
                int res = fec.answerQuestion(idx, cands.get(i).data, true);
                if (i == 0) firstOutcome = res;
                if (res == FormEntryController.ANSWER_OK) { chosen = i; break; }
                tried.add(cands.get(i).key + " -> " + outcomeName(res));
            }

            // Could an earlier answer be changed so that this question takes its preferred value
            // (soft) or any value at all (hard)? Only earlier answers that the constraint
            // references are considered.
            boolean hard = chosen < 0;
            boolean soft = chosen > 0 && firstOutcome == FormEntryController.ANSWER_CONSTRAINT_VIOLATED && softFixes
                    && pin == null;
            if ((hard || soft) && !noFix.contains(ref)) {
                noFix.add(ref);
                List<Cand> wanted = hard ? cands : cands.subList(0, 1);
                tryFixEarlier(fd, fec, idx, generic, wanted, answered, hard);   // throws Restart on success
                if (!hard) fec.answerQuestion(idx, cands.get(chosen).data, true);
            }
            if (chosen < 0) {
                String cexpr = constraintXPath(fd, tref);
                throw new Fail("no candidate answer fits " + describe(p, generic)
                        + (cexpr != null ? "\n  constraint: " + cexpr : "")
                        + (p.getConstraintText() != null ? "\n  message: " + p.getConstraintText() : "")
                        + "\n  tried: " + String.join("; ", tried.subList(0, Math.min(tried.size(), 20)))
                        + (tried.size() > 20 ? "; ... (" + (tried.size() - 20) + " more)" : ""));
            }
            Cand c = cands.get(chosen);
            log("answer " + ref + " = " + c.key + (chosen > 0 ? "   (rejected: " + String.join("; ", tried) + ")" : ""));
            answered.add(new Answered(idx, ref, generic, cands, chosen));
        }

        // Collect finalizing a form: JavaRosaFormController.validateAnswers(markCompleted = true)
        // = FormDef.validate(true), which re-walks every relevant question checking required and
        // constraint; then JavaRosaFormController.postProcessInstance = FormDef.postProcessInstance
        // (end-of-form preloads such as <end>).
        ValidateOutcome vo = fd.validate();   // = the deprecated validate(markCompleted = true)
        if (vo != null) {
            FormEntryPrompt fp = model.getQuestionPrompt(vo.failedPrompt);
            throw new Fail("final validation failed: " + outcomeName(vo.outcome) + " at "
                    + describe(fp, vo.failedPrompt.getReference().toString(true)));
        }
        fd.postProcessInstance();

        // Collect: JavaRosaFormController.getFilledInFormXml — new XFormSerializingVisitor()
        // (respectRelevance = true) over the whole main instance.
        ByteArrayPayload payload = (ByteArrayPayload) new XFormSerializingVisitor().createSerializedPayload(fd.getInstance());
        Filled f = new Filled();
        f.xml = readAll(payload.getPayloadStream());
        f.instanceId = findInstanceId(fd.getInstance().getRoot());
        f.answered = answered.size();
        if (f.instanceId == null || !f.instanceId.startsWith("uuid:"))
            throw new Fail("instance has no meta/instanceID uuid (got " + f.instanceId + ")");
        return f;
    }

    /**
     * Not something Collect does (a person chooses): to exercise as much of the form as possible,
     * the choices of a select are tried in order of how many questions they make relevant (ties keep
     * the form's choice order). Each choice is stored without constraint checks (saveAnswer) just to
     * count; the real answer is given afterwards with answerQuestion.
     */
    static void orderByCoverage(FormEntryController fec, FormEntryModel model, FormIndex idx, List<Cand> cands,
                                java.util.function.Consumer<String> log) {
        IAnswerData original = model.getQuestionPrompt(idx).getAnswerValue();
        Map<Cand, Integer> score = new HashMap<>();
        for (Cand c : cands) {
            fec.saveAnswer(idx, c.data, true);
            score.put(c, relevantQuestionCount(model));
        }
        fec.saveAnswer(idx, original, true);
        cands.sort((a, b) -> Integer.compare(score.get(b), score.get(a)));   // List.sort is stable
        if (log != null && !score.values().stream().allMatch(v -> v.equals(score.get(cands.get(0)))))
            log.accept("coverage " + idx.getReference().genericize().toString(false) + ": " + score);
    }

    /** (FormEntryModel.getTotalRelevantQuestionCount is a stub returning 0 in JavaRosa 5.1.) */
    static int relevantQuestionCount(FormEntryModel model) {
        int n = 0;
        FormIndex i = model.incrementIndex(FormIndex.createBeginningOfFormIndex(), true);
        while (!i.isEndOfFormIndex()) {
            if (model.getEvent(i) == FormEntryController.EVENT_QUESTION && model.isIndexRelevant(i)) n++;
            i = model.incrementIndex(i, true);
        }
        return n;
    }

    static boolean isSelect(FormEntryPrompt p) {
        int ct = p.getControlType();
        return ct == Constants.CONTROL_SELECT_ONE || ct == Constants.CONTROL_SELECT_MULTI;
    }

    /**
     * The constraint of question Q rejected the wanted candidate(s). For each earlier answer P
     * that Q's constraint references (most recent first), try P's other candidates: if one keeps P
     * valid and lets Q accept a wanted candidate, pin it and restart the walk. Otherwise restore P.
     */
    void tryFixEarlier(FormDef fd, FormEntryController fec, FormIndex qIdx, String qGeneric, List<Cand> wanted,
                       List<Answered> answered, boolean hard) throws Restart {
        Set<String> refs = constraintTriggers(fd, qIdx.getReference());
        if (refs.isEmpty()) return;
        for (int a = answered.size() - 1; a >= 0; a--) {
            Answered pa = answered.get(a);
            if (!refs.contains(pa.generic) || pins.containsKey(pa.ref)) continue;
            for (int j = 0; j < pa.cands.size(); j++) {
                if (j == pa.chosen) continue;
                if (fec.answerQuestion(pa.index, pa.cands.get(j).data, true) != FormEntryController.ANSWER_OK) continue;
                for (Cand w : wanted) {
                    if (fec.answerQuestion(qIdx, w.data, true) == FormEntryController.ANSWER_OK) {
                        pins.put(pa.ref, (hard ? "hard|" : "soft|") + pa.cands.get(j).key);
                        throw new Restart(qGeneric + " = " + w.key + " needs " + pa.ref + " = " + pa.cands.get(j).key
                                + " (was " + pa.cands.get(pa.chosen).key + ")");
                    }
                }
            }
            fec.answerQuestion(pa.index, pa.cands.get(pa.chosen).data, true);   // restore
        }
    }

    /** Generic paths of the nodes referenced by the constraint on ref (JavaRosa's own triggers). */
    static Set<String> constraintTriggers(FormDef fd, TreeReference ref) {
        Set<String> s = new HashSet<>();
        TreeElement te = fd.getMainInstance().resolveReference(ref);
        Constraint c = te == null ? null : te.getConstraint();
        if (c == null || c.constraint == null) return s;
        for (TreeReference t : c.constraint.getTriggers(ref.genericize())) s.add(t.genericize().toString(false));
        return s;
    }

    static String constraintXPath(FormDef fd, TreeReference ref) {
        TreeElement te = fd.getMainInstance().resolveReference(ref);
        Constraint c = te == null ? null : te.getConstraint();
        if (c == null || !(c.constraint instanceof XPathConditional)) return null;
        return ((XPathConditional) c.constraint).xpath;
    }

    static boolean isMediaControl(int ct) {
        return ct == Constants.CONTROL_UPLOAD || ct == Constants.CONTROL_IMAGE_CHOOSE
                || ct == Constants.CONTROL_AUDIO_CAPTURE || ct == Constants.CONTROL_VIDEO_CAPTURE
                || ct == Constants.CONTROL_FILE_CAPTURE || ct == Constants.CONTROL_OSM_CAPTURE;
    }

    // ---- candidate answers --------------------------------------------------------------------
    static final Pattern P_PHONE = Pattern.compile("phone|mobile|\\btel\\b|msisdn|whatsapp|contact_number");
    static final Pattern P_EMAIL = Pattern.compile("e-?mail");
    static final Pattern P_YEAR = Pattern.compile("year|yyyy");
    static final Pattern P_CODE = Pattern.compile("code|ref|number|_no$|_no_|_num|id$|_id_|passport|permit|document|serial|plate");
    static final Pattern P_BIRTH = Pattern.compile("birth|dob");
    static final Pattern P_AGE = Pattern.compile("age");
    static final Pattern P_COUNT = Pattern.compile("number|count|_no$|^no_|num_|nb_|children|sessions|size|persons|people|members|times|days|months|participants|reach");
    static final Pattern P_MONEY = Pattern.compile("amount|cost|money|price|fee|salary|income|usd|lrd");
    static final Pattern P_FUTURE = Pattern.compile("expiry|expires|valid_until|until|planned|due_date|next_");

    /** Candidate answers for a question, in preference order (first that passes wins). */
    List<Cand> candidates(FormEntryPrompt p, String generic) {
        String name = generic.substring(generic.lastIndexOf('/') + 1).toLowerCase(Locale.ROOT);
        String label = p.getLongText() == null ? "" : p.getLongText().toLowerCase(Locale.ROOT);
        String hay = name + " " + label;
        List<Cand> c = new ArrayList<>();
        int ct = p.getControlType();
        int dt = p.getDataType();

        // A value already present (form default, setvalue on first load, calculation seed) is what a
        // Collect user would see pre-filled and usually keep, so it is tried first.
        IAnswerData current = p.getAnswerValue();
        if (current != null && ct != Constants.CONTROL_TRIGGER) c.add(new Cand("current:" + current.uncast().getString(), current));

        if (ct == Constants.CONTROL_TRIGGER) {
            // acknowledge / trigger: Collect's TriggerWidget stores "OK".
            c.add(new Cand("OK", new StringData("OK")));
            return c;
        }
        if (ct == Constants.CONTROL_SELECT_ONE || dt == Constants.DATATYPE_CHOICE) {
            // select_one: each choice in turn (choice_filter already applied by JavaRosa).
            for (SelectChoice sc : choices(p)) c.add(new Cand("one:" + sc.getValue(), new SelectOneData(sc.selection())));
            return c;
        }
        if (ct == Constants.CONTROL_SELECT_MULTI || ct == Constants.CONTROL_RANK || dt == Constants.DATATYPE_CHOICE_LIST
                || dt == Constants.DATATYPE_MULTIPLE_ITEMS) {
            List<SelectChoice> ch = choices(p);
            if (ch.isEmpty()) return c;
            // select_multiple: the first choice, then the others one by one, then all choices.
            // (A later question whose constraint needs e.g. count-selected(...) = 6 gets "all" via
            // the earlier-answer fix in tryFixEarlier.)
            c.add(multi("first", ch.subList(0, 1)));
            for (int i = 1; i < ch.size(); i++) c.add(multi("one:" + ch.get(i).getValue(), ch.subList(i, i + 1)));
            if (ch.size() > 1) {
                c.add(multi("all", ch));
                if (ch.size() > 2) c.add(multi("first-two", ch.subList(0, 2)));
            }
            return c;
        }
        switch (dt) {
            case Constants.DATATYPE_INTEGER:
            case Constants.DATATYPE_LONG: {
                List<Integer> v = new ArrayList<>();
                if (P_YEAR.matcher(name).find()) v.addAll(List.of(LocalDate.now().getYear() - 1, 1990, LocalDate.now().getYear()));
                // ages: an adult first; 16 and 65 help constraints such as "child only if < 18"
                // or "elderly only if >= 60" when the earlier-answer fix revisits them.
                if (P_AGE.matcher(name).find()) v.addAll(List.of(30, 16, 65));
                else if (P_COUNT.matcher(hay).find()) v.addAll(List.of(2, 1));
                v.addAll(List.of(30, 1, 0, 2, 5, 18, 25, 40, 60, 100));
                IntegerRangeHint h = rangeHint(p, new IntegerRangeHint());
                if (h != null) {
                    // Last resort: JavaRosa's own reading of a simple range constraint (pivot).
                    Integer lo = h.getMin() == null ? null : (Integer) h.getMin().getValue();
                    Integer hi = h.getMax() == null ? null : (Integer) h.getMax().getValue();
                    if (lo != null) v.add(h.isMinInclusive() ? lo : lo + 1);
                    if (hi != null) v.add(h.isMaxInclusive() ? hi : hi - 1);
                    if (lo != null && hi != null) v.add((lo + hi) / 2);
                }
                // Sweep (only reached when everything above was rejected): JavaRosa cannot pivot
                // "a and b" ranges, so try every small number, then round ones and negatives.
                for (int x = 0; x <= 120; x++) v.add(x);
                v.addAll(List.of(150, 200, 250, 500, 1000, 2000, 5000, 10000, -1, -10));
                for (int x : dedupe(v)) c.add(new Cand(String.valueOf(x), new IntegerData(x)));
                return c;
            }
            case Constants.DATATYPE_DECIMAL: {
                List<Double> v = new ArrayList<>();
                if (P_MONEY.matcher(hay).find()) v.add(100.0);
                v.addAll(List.of(1.5, 0.5, 10.0, 100.0, 0.0, 1.0));
                DecimalRangeHint h = rangeHint(p, new DecimalRangeHint());
                if (h != null) {
                    Double lo = h.getMin() == null ? null : (Double) h.getMin().getValue();
                    Double hi = h.getMax() == null ? null : (Double) h.getMax().getValue();
                    if (lo != null && hi != null) v.add((lo + hi) / 2);
                    else if (lo != null) v.add(lo + 1);
                    else if (hi != null) v.add(hi - 1);
                }
                for (int x = 1; x <= 40; x++) v.add(x * 0.25);                  // sweep, see integers
                for (int x = 20; x <= 200; x += 10) v.add((double) x);
                v.addAll(List.of(500.0, 1000.0, 10000.0, -1.0, -10.0));
                for (double x : dedupe(v)) c.add(new Cand(String.valueOf(x), new DecimalData(x)));
                return c;
            }
            case Constants.DATATYPE_DATE: {
                List<LocalDate> v = dateCandidates(hay);
                DateRangeHint h = rangeHint(p, new DateRangeHint());
                if (h != null) {
                    LocalDate lo = h.getMin() == null ? null : toLocal((Date) h.getMin().getValue());
                    LocalDate hi = h.getMax() == null ? null : toLocal((Date) h.getMax().getValue());
                    if (hi != null) v.add(h.isMaxInclusive() ? hi : hi.minusDays(1));
                    if (lo != null) v.add(h.isMinInclusive() ? lo : lo.plusDays(1));
                }
                for (LocalDate d : dedupe(v)) c.add(new Cand(d.toString(), new DateData(toDate(d.atStartOfDay()))));
                return c;
            }
            case Constants.DATATYPE_DATE_TIME: {
                for (LocalDate d : dateCandidates(hay)) {
                    LocalDateTime t = d.equals(LocalDate.now()) ? LocalDateTime.now().minusHours(1).withNano(0) : d.atTime(10, 30);
                    if (t.toLocalDate().isBefore(d)) t = d.atStartOfDay();
                    c.add(new Cand(t.toString(), new DateTimeData(toDate(t))));
                }
                return c;
            }
            case Constants.DATATYPE_TIME: {
                for (LocalTime t : List.of(LocalTime.of(9, 30), LocalTime.of(14, 0), LocalTime.of(0, 0), LocalTime.of(23, 0)))
                    c.add(new Cand(t.toString(), new TimeData(toDate(LocalDate.now().atTime(t)))));
                return c;
            }
            case Constants.DATATYPE_GEOPOINT:
                // lat lon altitude accuracy, somewhere in Liberia (Collect's GeoPointWidget output).
                c.add(new Cand("6.3 -10.8 10 5", new GeoPointData(new double[]{6.3, -10.8, 10, 5})));
                c.add(new Cand("6.3 -10.8 0 0", new GeoPointData(new double[]{6.3, -10.8, 0, 0})));
                return c;
            case Constants.DATATYPE_GEOSHAPE:
            case Constants.DATATYPE_GEOTRACE:
                c.add(new Cand("trace", new StringData("6.3 -10.8 0 0;6.31 -10.8 0 0;6.31 -10.81 0 0;6.3 -10.8 0 0")));
                return c;
            default: {
                // text (and barcode, untyped): a clearly fictional value, shaped by name/label.
                List<String> v = new ArrayList<>();
                if (P_PHONE.matcher(hay).find()) v.add("+231770000001");
                if (P_EMAIL.matcher(hay).find()) v.add("demo@example.org");
                if (P_YEAR.matcher(name).find()) v.add(String.valueOf(LocalDate.now().getYear() - 1));
                if (name.contains("case_ref") || name.endsWith("_ref")) v.add("DEMO-0001");
                if (P_CODE.matcher(name).find()) v.add("A1234567");
                v.addAll(List.of(text, "Demo Collectlike", "A1234567", "DEMO-0001", "12345", "+231770000001",
                        "demo@example.org", "2024", "Demo", "demo"));
                for (String s : dedupe(v)) c.add(new Cand(s, new StringData(s)));
                return c;
            }
        }
    }

    /** A RangeHint filled from the question's constraint, or null if JavaRosa cannot pivot it. */
    static <H extends RangeHint<?>> H rangeHint(FormEntryPrompt p, H hint) {
        try {
            p.requestConstraintHint(hint);
            return hint.getMin() != null || hint.getMax() != null ? hint : null;
        } catch (Exception | Error e) {   // UnpivotableExpressionException, or no constraint at all
            return null;
        }
    }

    static LocalDate toLocal(Date d) { return d.toInstant().atZone(ZoneId.systemDefault()).toLocalDate(); }

    static List<SelectChoice> choices(FormEntryPrompt p) {
        List<SelectChoice> ch = p.getSelectChoices();
        return ch == null ? new ArrayList<>() : ch;
    }

    static Cand multi(String key, List<SelectChoice> chosen) {
        List<Selection> sel = new ArrayList<>();
        for (SelectChoice sc : chosen) sel.add(sc.selection());
        StringBuilder k = new StringBuilder(key.startsWith("one:") ? "multi:" : key + ":");
        for (SelectChoice sc : chosen) k.append(sc.getValue()).append(' ');
        return new Cand(k.toString().trim(), new SelectMultiData(sel));
    }

    /** Dates: recent past first; birth-like questions get birth dates; expiry-like get future ones. */
    static List<LocalDate> dateCandidates(String hay) {
        LocalDate t = LocalDate.now();
        List<LocalDate> past = List.of(t.minusDays(400), t.minusDays(300), t.minusDays(200), t.minusDays(30), t.minusDays(7), t);
        List<LocalDate> birth = List.of(LocalDate.of(1990, 5, 17), LocalDate.of(1985, 1, 3), LocalDate.of(2015, 8, 21),
                LocalDate.of(1960, 2, 29));
        List<LocalDate> future = List.of(t.plusDays(30), t.plusDays(365), t.plusDays(1000));
        List<LocalDate> v = new ArrayList<>();
        if (P_BIRTH.matcher(hay).find()) { v.addAll(birth); v.addAll(past); v.addAll(future); }
        else if (P_FUTURE.matcher(hay).find()) { v.addAll(future); v.addAll(past); v.addAll(birth); }
        else { v.addAll(past); v.addAll(birth); v.addAll(future); }
        return v;
    }

    static Date toDate(LocalDateTime t) { return Date.from(t.atZone(ZoneId.systemDefault()).toInstant()); }

    static <T> List<T> dedupe(List<T> in) { return new ArrayList<>(new java.util.LinkedHashSet<>(in)); }

    static String outcomeName(int res) {
        if (res == FormEntryController.ANSWER_OK) return "OK";
        if (res == FormEntryController.ANSWER_CONSTRAINT_VIOLATED) return "CONSTRAINT_VIOLATED";
        if (res == FormEntryController.ANSWER_REQUIRED_BUT_EMPTY) return "REQUIRED_BUT_EMPTY";
        return "outcome " + res;
    }

    static String describe(FormEntryPrompt p, String ref) {
        String label = p == null ? null : p.getLongText();
        return "question " + ref + (label != null ? " (\"" + label.replaceAll("\\s+", " ") + "\")" : "")
                + (p != null ? " [" + typeName(p.getDataType()) + (p.isRequired() ? ", required" : "") + "]" : "");
    }

    static String typeName(int dt) {
        switch (dt) {
            case Constants.DATATYPE_TEXT: return "text";
            case Constants.DATATYPE_INTEGER: return "int";
            case Constants.DATATYPE_DECIMAL: return "decimal";
            case Constants.DATATYPE_DATE: return "date";
            case Constants.DATATYPE_TIME: return "time";
            case Constants.DATATYPE_DATE_TIME: return "dateTime";
            case Constants.DATATYPE_CHOICE: return "select1";
            case Constants.DATATYPE_CHOICE_LIST: return "select";
            case Constants.DATATYPE_GEOPOINT: return "geopoint";
            case Constants.DATATYPE_BINARY: return "binary";
            default: return "type " + dt;
        }
    }

    static String findInstanceId(TreeElement root) {
        for (int i = 0; i < root.getNumChildren(); i++) {
            TreeElement e = root.getChildAt(i);
            if (e.getName().equals("meta")) {
                for (int j = 0; j < e.getNumChildren(); j++) {
                    TreeElement m = e.getChildAt(j);
                    if (m.getName().equals("instanceID") && m.getValue() != null) return m.getValue().getDisplayText();
                }
            }
        }
        return null;
    }

    // =========================================================================================
    // 5. Submission
    // =========================================================================================
    static final class Submit {
        final List<Integer> codes = new ArrayList<>();
        String message;
    }

    Submit submit(Path instFile, List<Path> files) throws Exception {
        // Collect: OpenRosaServerInstanceUploader — URL = <server>/submission (unless the form has a
        // submission action) with ?deviceID= appended; the same URI is used for HEAD and POST.
        String url = withDeviceId(server + "/submission");

        // HEAD pre-flight. Collect: 204 -> read X-OpenRosa-Accept-Content-Length (and Location);
        // other 2xx -> abort; 401 -> ask for credentials; other codes are ignored and Collect POSTs
        // anyway. As a test harness we are stricter and demand exactly 204.
        HttpResponse<byte[]> h = http.send("HEAD", url, null, null);
        if (h.statusCode() != 204)
            throw new Fail("HEAD " + url + " returned " + h.statusCode() + ", expected exactly 204"
                    + (h.statusCode() / 100 == 2 ? " (Collect aborts: 'Is this an OpenRosa submission endpoint?')" : ""));
        requireOpenRosaHeader(h, "HEAD " + url);
        long accept = DEFAULT_ACCEPT_LENGTH;
        String al = h.headers().firstValue("X-OpenRosa-Accept-Content-Length").orElse(null);
        if (al != null) {
            try { accept = Long.parseLong(al.trim()); }
            catch (NumberFormatException e) { throw new Fail("bad X-OpenRosa-Accept-Content-Length: " + al); }
        }
        long limit = maxBytes > 0 ? Math.min(accept, maxBytes) : accept;
        // Collect: a Location header on the 204 redirects the POST, but only to the same host
        // (e.g. http -> https upgrade).
        String loc = h.headers().firstValue("Location").orElse(null);
        if (loc != null) {
            URI to = URI.create(url).resolve(loc);
            if (!to.getHost().equalsIgnoreCase(URI.create(url).getHost()))
                throw new Fail("HEAD Location " + loc + " points to another host; Collect refuses that");
            url = withDeviceId(to.toString());
            log("HEAD Location -> POST to " + url);
        }
        log("HEAD 204, accept-content-length " + al + " -> split limit " + limit);

        // Split into POSTs exactly like Collect: OkHttpConnection.uploadSubmissionAndFiles. Every
        // POST repeats the XML; a new POST starts when the next file would push the byte count
        // (XML + files so far) over the limit or a POST would exceed 100 files; every POST but the
        // last carries the part *isIncomplete* = yes. A POST always has at least one file.
        byte[] xml = Files.readAllBytes(instFile);
        Submit s = new Submit();
        int fileIndex = 0;
        boolean first = true;
        while (fileIndex < files.size() || first) {
            first = false;
            int start = fileIndex;
            long byteCount = xml.length;
            Multipart mp = new Multipart();
            mp.addFile("xml_submission_file", instFile.getFileName().toString(), "text/xml", xml);
            boolean incomplete = false;
            for (; fileIndex < files.size(); fileIndex++) {
                Path f = files.get(fileIndex);
                byte[] data = Files.readAllBytes(f);
                String name = f.getFileName().toString();
                mp.addFile(name, name, contentType(name), data);
                byteCount += data.length;
                if (fileIndex + 1 < files.size()) {
                    if (fileIndex - start + 1 > MAX_FILES_PER_POST
                            || byteCount + Files.size(files.get(fileIndex + 1)) > limit) {
                        mp.addField("*isIncomplete*", "yes");
                        incomplete = true;
                        fileIndex++;
                        break;
                    }
                }
            }
            byte[] body = mp.build();
            HttpResponse<byte[]> r = http.send("POST", url, body, mp.contentType());
            int code = r.statusCode();
            s.codes.add(code);
            String msg = openRosaMessage(r.body());
            log("POST " + (s.codes.size()) + ": " + (fileIndex - start) + " file(s)" + (incomplete ? " +*isIncomplete*" : "")
                    + ", " + body.length + " bytes -> " + code + " " + msg);
            // Collect: OpenRosaServerInstanceUploader — only 201/202 are success; 200 means a
            // captive portal ("Network login failure?"), 204 on POST throws.
            if (code != 201 && code != 202)
                throw new Fail("POST " + url + " returned " + code + (code == 200 ? " (Collect: 'Network login failure? "
                        + "Again?' — 200 is not success)" : "") + "; body: " + new String(r.body(), StandardCharsets.UTF_8));
            requireOpenRosaHeader(r, "POST " + url);
            if (msg == null)
                throw new Fail("POST " + code + " without an <OpenRosaResponse xmlns=\"" + NS_RESPONSE + "\"><message> body: "
                        + new String(r.body(), StandardCharsets.UTF_8));
            s.message = msg;
        }
        return s;
    }

    /** &lt;OpenRosaResponse xmlns="http://openrosa.org/http/response"&gt;&lt;message&gt; text, or null. */
    static String openRosaMessage(byte[] body) {
        if (body == null || body.length == 0) return null;
        try {
            Element root = parseXml(body, "response").getDocumentElement();
            if (!"OpenRosaResponse".equals(root.getLocalName()) || !NS_RESPONSE.equals(root.getNamespaceURI())) return null;
            return text(root, NS_RESPONSE, "message");
        } catch (Fail e) {
            return null;
        }
    }

    /** Collect: CollectThenSystemContentTypeMapper (Collect's few extras, then Android's MimeTypeMap). */
    static String contentType(String name) {
        String ext = name.lastIndexOf('.') < 0 ? "" : name.substring(name.lastIndexOf('.') + 1).toLowerCase(Locale.ROOT);
        switch (ext) {
            case "amr": return "audio/amr";
            case "oga": return "audio/ogg";
            case "ogv": return "video/ogg";
            case "webm": return "video/webm";
            case "jpg": case "jpeg": return "image/jpeg";
            case "png": return "image/png";
            case "gif": return "image/gif";
            case "webp": return "image/webp";
            case "mp3": return "audio/mpeg";
            case "m4a": return "audio/mp4";
            case "wav": return "audio/x-wav";
            case "3gp": return "video/3gpp";
            case "mp4": return "video/mp4";
            case "pdf": return "application/pdf";
            case "csv": return "text/comma-separated-values";
            case "txt": return "text/plain";
            case "xml": return "text/xml";
            case "zip": return "application/zip";
            case "geojson": case "json": return "application/json";
            default: return "application/octet-stream";
        }
    }

    /** multipart/form-data body, laid out like OkHttp's MultipartBody (FORM). */
    static final class Multipart {
        final String boundary = "collectlike-" + Long.toHexString(new SecureRandom().nextLong())
                + Long.toHexString(System.nanoTime());
        final ByteArrayOutputStream buf = new ByteArrayOutputStream();

        void addFile(String name, String filename, String type, byte[] data) {
            head("Content-Disposition: form-data; name=\"" + quote(name) + "\"; filename=\"" + quote(filename) + "\"\r\n"
                    + "Content-Type: " + type + "\r\n" + "Content-Length: " + data.length + "\r\n");
            buf.writeBytes(data);
            buf.writeBytes("\r\n".getBytes(StandardCharsets.US_ASCII));
        }

        void addField(String name, String value) {
            byte[] v = value.getBytes(StandardCharsets.UTF_8);
            head("Content-Disposition: form-data; name=\"" + quote(name) + "\"\r\n" + "Content-Length: " + v.length + "\r\n");
            buf.writeBytes(v);
            buf.writeBytes("\r\n".getBytes(StandardCharsets.US_ASCII));
        }

        private void head(String headers) {
            buf.writeBytes(("--" + boundary + "\r\n" + headers + "\r\n").getBytes(StandardCharsets.UTF_8));
        }

        // OkHttp's createFormData percent-escapes '"' (and newlines) in names; file names are UTF-8.
        static String quote(String s) {
            return s.replace("\n", "%0A").replace("\r", "%0D").replace("\"", "%22");
        }

        byte[] build() {
            buf.writeBytes(("--" + boundary + "--\r\n").getBytes(StandardCharsets.US_ASCII));
            return buf.toByteArray();
        }

        String contentType() { return "multipart/form-data; boundary=" + boundary; }
    }

    // =========================================================================================
    // 6. HTTP with Collect's headers and RFC 2617 Digest
    // =========================================================================================
    final class Http {
        final HttpClient client = HttpClient.newBuilder()
                .version(HttpClient.Version.HTTP_1_1)          // OkHttp speaks HTTP/1.1 on cleartext
                .connectTimeout(Duration.ofSeconds(30))        // Collect: CONNECTION_TIMEOUT 30 s
                .followRedirects(HttpClient.Redirect.NEVER)    // redirects are handled in get()
                .build();
        final String user, password;
        // Collect: CachingAuthenticatorDecorator + AuthenticationCacheInterceptor — once a host has
        // challenged, later requests to it carry Authorization pre-emptively.
        final Map<String, Digest> cache = new HashMap<>();

        Http(String user, String password) { this.user = user; this.password = password; }

        /** GET with Collect's checks; follows redirects like OkHttp (followRedirects(true)). */
        HttpResponse<byte[]> get(String url, String expectType) throws Exception {
            String u = withDeviceId(url);
            for (int hops = 0; hops < 10; hops++) {
                HttpResponse<byte[]> r = send("GET", u, null, null);
                int sc = r.statusCode();
                if (sc == 301 || sc == 302 || sc == 303 || sc == 307 || sc == 308) {
                    String loc = r.headers().firstValue("Location").orElseThrow(() -> new Fail(sc + " without Location from " + url));
                    u = URI.create(u).resolve(loc).toString();
                    log("GET redirect -> " + u);
                    continue;
                }
                if (sc != 200) throw new Fail("GET " + u + " returned " + sc + ": " + snippet(r.body()));
                if (expectType != null) {
                    String ct = r.headers().firstValue("Content-Type").orElse("");
                    if (!ct.toLowerCase(Locale.ENGLISH).startsWith(expectType))
                        throw new Fail("GET " + u + ": Content-Type '" + ct + "' is not " + expectType
                                + " (Collect: 'This is often caused by a network proxy')");
                }
                return r;
            }
            throw new Fail("too many redirects from " + url);
        }

        HttpResponse<byte[]> send(String method, String url, byte[] body, String contentType) throws Exception {
            URI uri = URI.create(url);
            String host = uri.getScheme() + "://" + uri.getAuthority();
            boolean retried = false;
            while (true) {
                HttpRequest.Builder b = HttpRequest.newBuilder(uri)
                        .timeout(Duration.ofSeconds(60))       // Collect: READ/WRITE timeout 60 s
                        .header("User-Agent", USER_AGENT)
                        .header("X-OpenRosa-Version", "1.0")
                        .header("Date", collectDate());
                if (contentType != null) b.header("Content-Type", contentType);
                b.method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofByteArray(body));
                Digest d = cache.get(host);
                if (d != null && user != null) b.header("Authorization", d.authorization(method, uri, user, password));
                HttpResponse<byte[]> r = client.send(b.build(), HttpResponse.BodyHandlers.ofByteArray());
                if (r.statusCode() != 401) return r;
                List<String> chal = r.headers().allValues("WWW-Authenticate");
                if (user == null)
                    throw new Fail(method + " " + url + " -> 401 " + chal + "; this server needs --user/--password"
                            + " (or a token URL)");
                String digest = null;
                for (String c : chal) if (c.regionMatches(true, 0, "Digest ", 0, 7)) digest = c;
                if (digest == null) {
                    // Collect registers the Basic authenticator only for https URLs.
                    throw new Fail(method + " " + url + " -> 401 without a Digest challenge " + chal
                            + (uri.getScheme().equals("https") ? "" : " (Collect never sends Basic over http)"));
                }
                Digest nd = Digest.parse(digest);
                boolean stale = "true".equalsIgnoreCase(nd.params.get("stale"));
                if (retried && !stale) throw new Fail(method + " " + url + " -> 401 again after Digest auth: wrong credentials?");
                cache.put(host, nd);
                retried = true;
                log(method + " " + uri.getRawPath() + " -> 401 Digest realm=" + nd.params.get("realm") + (stale ? " (stale)" : "") + "; retrying");
            }
        }

        /** Collect: OkHttpOpenRosaServerClient.getHeaderDate — note the 12-hour "hh". */
        String collectDate() {
            SimpleDateFormat f = new SimpleDateFormat("E, dd MMM yyyy hh:mm:ss zz", Locale.US);
            f.setTimeZone(TimeZone.getTimeZone("GMT"));
            return f.format(new Date());
        }
    }

    /** RFC 2617 Digest client state for one protection space (MD5 / MD5-sess, qop=auth). */
    static final class Digest {
        final Map<String, String> params = new HashMap<>();
        int nc = 0;
        static final SecureRandom RNG = new SecureRandom();

        static Digest parse(String header) {
            Digest d = new Digest();
            Matcher m = Pattern.compile("(\\w+)\\s*=\\s*(?:\"((?:[^\"\\\\]|\\\\.)*)\"|([^\\s,]+))").matcher(header.substring(7));
            while (m.find()) d.params.put(m.group(1).toLowerCase(Locale.ROOT), m.group(2) != null ? m.group(2) : m.group(3));
            return d;
        }

        String authorization(String method, URI uri, String user, String password) {
            String realm = params.getOrDefault("realm", "");
            String nonce = params.getOrDefault("nonce", "");
            String alg = params.getOrDefault("algorithm", "MD5");
            String qopOffered = params.get("qop");
            String digestUri = uri.getRawPath() + (uri.getRawQuery() != null ? "?" + uri.getRawQuery() : "");
            byte[] cn = new byte[8];
            RNG.nextBytes(cn);                             // >= 48 random bits (OpenRosa auth spec)
            String cnonce = hex(cn);
            String ha1 = md5hex(user + ":" + realm + ":" + password);
            if (alg.equalsIgnoreCase("MD5-sess")) ha1 = md5hex(ha1 + ":" + nonce + ":" + cnonce);
            else if (!alg.equalsIgnoreCase("MD5")) throw new Fail("unsupported Digest algorithm " + alg);
            String ha2 = md5hex(method + ":" + digestUri);
            StringBuilder h = new StringBuilder("Digest ");
            h.append("username=\"").append(user).append("\", realm=\"").append(realm)
                    .append("\", nonce=\"").append(nonce).append("\", uri=\"").append(digestUri).append("\"");
            boolean qopAuth = false;
            if (qopOffered != null) {
                for (String q : qopOffered.split(",")) if (q.trim().equals("auth")) qopAuth = true;
                if (!qopAuth) throw new Fail("server offers Digest qop=" + qopOffered + " without 'auth'");
            }
            String response;
            if (qopAuth) {
                String ncs = String.format("%08x", ++nc);
                response = md5hex(ha1 + ":" + nonce + ":" + ncs + ":" + cnonce + ":auth:" + ha2);
                h.append(", qop=auth, nc=").append(ncs).append(", cnonce=\"").append(cnonce).append("\"");
            } else {
                response = md5hex(ha1 + ":" + nonce + ":" + ha2);   // RFC 2069 compatibility
            }
            h.append(", response=\"").append(response).append("\"");
            if (params.containsKey("algorithm")) h.append(", algorithm=").append(alg);
            if (params.containsKey("opaque")) h.append(", opaque=\"").append(params.get("opaque")).append("\"");
            return h.toString();
        }
    }

    // =========================================================================================
    // helpers
    // =========================================================================================

    /** Collect: OpenRosaXmlFetcher.fetch / OpenRosaServerInstanceUploader append ?deviceID=. */
    static String withDeviceId(String url) {
        if (url.contains("deviceID=")) return url;
        return url + (url.contains("?") ? "&" : "?") + "deviceID=" + URLEncoder.encode(DEVICE_ID, StandardCharsets.UTF_8);
    }

    static Document parseXml(byte[] b, String what) {
        try {
            DocumentBuilderFactory f = DocumentBuilderFactory.newInstance();
            f.setNamespaceAware(true);
            f.setExpandEntityReferences(false);
            f.setFeature("http://apache.org/xml/features/disallow-doctype-decl", true);
            return f.newDocumentBuilder().parse(new ByteArrayInputStream(b));
        } catch (Exception e) {
            throw new Fail(what + ": not well-formed XML: " + e.getMessage() + ": " + snippet(b));
        }
    }

    static List<Element> children(Element parent, String ns, String local) {
        List<Element> l = new ArrayList<>();
        for (Node n = parent.getFirstChild(); n != null; n = n.getNextSibling())
            if (n instanceof Element && ns.equals(n.getNamespaceURI()) && (local == null || local.equals(n.getLocalName())))
                l.add((Element) n);
        return l;
    }

    static String text(Element parent, String ns, String local) {
        List<Element> l = children(parent, ns, local);
        return l.isEmpty() ? null : l.get(0).getTextContent().trim();
    }

    static String snippet(byte[] b) {
        String s = new String(b, StandardCharsets.UTF_8);
        return s.length() > 300 ? s.substring(0, 300) + "..." : s;
    }

    static byte[] readAll(InputStream in) throws IOException {
        try (InputStream i = in) { return i.readAllBytes(); }
    }

    static String md5hex(byte[] b) {
        try { return hex(MessageDigest.getInstance("MD5").digest(b)); }
        catch (Exception e) { throw new RuntimeException(e); }
    }

    static String md5hex(String s) { return md5hex(s.getBytes(StandardCharsets.UTF_8)); }

    static String hex(byte[] b) {
        StringBuilder sb = new StringBuilder();
        for (byte x : b) sb.append(String.format("%02x", x));
        return sb.toString();
    }

    static String safeName(String s) { return s.replaceAll("[^A-Za-z0-9._-]", "_"); }

    static String js(String s) {
        if (s == null) return "null";
        StringBuilder b = new StringBuilder("\"");
        for (char ch : s.toCharArray()) {
            switch (ch) {
                case '"': b.append("\\\""); break;
                case '\\': b.append("\\\\"); break;
                case '\n': b.append("\\n"); break;
                case '\r': b.append("\\r"); break;
                case '\t': b.append("\\t"); break;
                default:
                    if (ch < 0x20) b.append(String.format("\\u%04x", (int) ch));
                    else b.append(ch);
            }
        }
        return b.append('"').toString();
    }
}
