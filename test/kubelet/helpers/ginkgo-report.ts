/**
 * Reading a Ginkgo v2 run: its JSON report (`--json-report`, an array of suite reports whose
 * SpecReports hold each spec's hierarchy, text and state) and the lists of specs the node
 * e2e test skips or expects to fail, each entry `<regex> # <reason>`.
 */

export interface SpecOutcome {
  /** Container texts and the leaf text joined by spaces: what --ginkgo.focus/skip match. */
  text: string;
  state: string;
  /** The failure message and location, for failed specs. */
  failure?: string;
}

export interface GinkgoRun {
  specs: SpecOutcome[];
  /** Suite-level nodes (BeforeSuite, AfterSuite, …) that failed. */
  suiteFailures: SpecOutcome[];
}

export interface RunSummary { ran: number; passed: number; failed: number; skipped: number }

const FAILED_STATES = new Set(['failed', 'panicked', 'timedout', 'interrupted', 'aborted']);

export function isFailed(s: SpecOutcome): boolean {
  return FAILED_STATES.has(s.state);
}

interface JsonSpecReport {
  ContainerHierarchyTexts?: string[] | null;
  LeafNodeText?: string;
  LeafNodeType?: string;
  State?: string;
  Failure?: { Message?: string; Location?: { FileName?: string; LineNumber?: number } };
}

/** The specs of a `--json-report` file's text. */
export function parseGinkgoJsonReport(json: string): GinkgoRun {
  const suites = JSON.parse(json) as { SpecReports?: JsonSpecReport[] | null }[];
  const run: GinkgoRun = { specs: [], suiteFailures: [] };
  for (const suite of suites) {
    for (const r of suite.SpecReports ?? []) {
      const text = [...(r.ContainerHierarchyTexts ?? []), r.LeafNodeText ?? ''].filter(Boolean).join(' ');
      const f = r.Failure;
      const failure = f?.Message ? `${f.Message.trim()}${f.Location?.FileName ? ` (${f.Location.FileName}:${f.Location.LineNumber})` : ''}` : undefined;
      const outcome: SpecOutcome = { text: text || (r.LeafNodeType ?? ''), state: r.State ?? 'unknown', ...(failure ? { failure } : {}) };
      if (r.LeafNodeType === 'It') run.specs.push(outcome);
      else if (isFailed(outcome)) run.suiteFailures.push(outcome);
    }
  }
  return run;
}

export function summarize(run: GinkgoRun): RunSummary {
  const ran = run.specs.filter((s) => s.state !== 'skipped' && s.state !== 'pending');
  return {
    ran: ran.length,
    passed: ran.filter((s) => s.state === 'passed').length,
    failed: ran.filter(isFailed).length,
    skipped: run.specs.length - ran.length,
  };
}

export interface ListEntry { pattern: RegExp; source: string; reason: string }

/**
 * `<regex> # <reason>` per line, `#` lines and blank lines ignored. `kinds` are the reason
 * prefixes allowed (`host:`, `offline:`); an empty list allows any reason.
 */
export function parseReasonList(text: string, file: string, kinds: readonly string[] = []): ListEntry[] {
  return text.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#')).map((line) => {
    const at = line.indexOf(' # ');
    const source = at < 0 ? line : line.slice(0, at).trim();
    const reason = at < 0 ? '' : line.slice(at + 3).trim();
    if (reason.length < 10) throw new Error(`${file}: "${line}" gives no reason (write "<regex> # <reason>")`);
    if (kinds.length > 0 && !kinds.some((k) => reason.startsWith(k))) {
      throw new Error(`${file}: the reason of "${source}" must start with one of ${kinds.join(', ')}`);
    }
    return { pattern: new RegExp(source), source, reason };
  });
}

/** Failed specs that no entry explains, and entries whose specs all passed this time. */
export function classifyFailures(run: GinkgoRun, known: readonly ListEntry[]): { unexplained: SpecOutcome[]; explained: [SpecOutcome, ListEntry][]; nowPassing: ListEntry[] } {
  const failed = [...run.suiteFailures, ...run.specs.filter(isFailed)];
  const explained: [SpecOutcome, ListEntry][] = [];
  const unexplained: SpecOutcome[] = [];
  for (const s of failed) {
    const e = known.find((k) => k.pattern.test(s.text));
    if (e) explained.push([s, e]);
    else unexplained.push(s);
  }
  const nowPassing = known.filter((k) => {
    const matching = run.specs.filter((s) => k.pattern.test(s.text) && s.state !== 'skipped' && s.state !== 'pending');
    return matching.length > 0 && matching.every((s) => s.state === 'passed');
  });
  return { unexplained, explained, nowPassing };
}
