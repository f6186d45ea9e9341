/**
 * The linear algebra behind `npm run train:speaker`: standardisation, LDA (within-class whitened), equal error
 * rate and a one-dimensional logistic calibration. Small dense matrices (tens of dimensions) as arrays of rows.
 */

type Matrix = Float64Array[];

const zeros = (r: number, c: number): Matrix => Array.from({ length: r }, () => new Float64Array(c));

/** Per-column mean and standard deviation, ignoring values that are not finite (unvoiced pitch). */
export function standardisation(xs: readonly Float64Array[]): { mean: number[]; scale: number[] } {
  const d = xs[0].length;
  const mean: number[] = [];
  const scale: number[] = [];
  for (let i = 0; i < d; i++) {
    const v = xs.map((x) => x[i]).filter(Number.isFinite);
    const m = v.reduce((a, b) => a + b, 0) / v.length;
    const s = Math.sqrt(v.reduce((a, b) => a + (b - m) ** 2, 0) / v.length);
    mean.push(m);
    scale.push(s > 1e-9 ? s : 1);
  }
  return { mean, scale };
}

/** Eigen-decomposition of a symmetric matrix (cyclic Jacobi): values descending, vectors as columns. */
function symmetricEigen(a: Matrix): { values: number[]; vectors: Matrix } {
  const n = a.length;
  const m = a.map((r) => Float64Array.from(r));
  const v = zeros(n, n);
  for (let i = 0; i < n; i++) v[i][i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += m[p][q] ** 2;
    if (off < 1e-22) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        if (Math.abs(m[p][q]) < 1e-300) continue;
        const theta = (m[q][q] - m[p][p]) / (2 * m[p][q]);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const mkp = m[k][p];
          const mkq = m[k][q];
          m[k][p] = c * mkp - s * mkq;
          m[k][q] = s * mkp + c * mkq;
        }
        for (let k = 0; k < n; k++) {
          const mpk = m[p][k];
          const mqk = m[q][k];
          m[p][k] = c * mpk - s * mqk;
          m[q][k] = s * mpk + c * mqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k][p];
          const vkq = v[k][q];
          v[k][p] = c * vkp - s * vkq;
          v[k][q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => m[j][j] - m[i][i]);
  return {
    values: order.map((i) => m[i][i]),
    vectors: v.map((row) => Float64Array.from(order, (i) => row[i])),
  };
}

/** a × b, or aᵀ × b when `transposeA` (square matrices of one size). */
function multiply(a: Matrix, b: Matrix, transposeA = false): Matrix {
  const d = a.length;
  const out = zeros(d, d);
  for (let i = 0; i < d; i++) {
    for (let j = 0; j < d; j++) {
      let s = 0;
      for (let k = 0; k < d; k++) s += (transposeA ? a[k][i] : a[i][k]) * b[k][j];
      out[i][j] = s;
    }
  }
  return out;
}

/**
 * LDA on standardised vectors: the `dim` directions that most separate the classes' means relative to the
 * within-class scatter, scaled so that the within-class covariance in the projected space is the identity.
 * `shrink` adds that share of the average within-class variance to its diagonal (few pieces per reader).
 * Returns a d × dim matrix, row-major, and the between/within ratio of each kept direction.
 */
export function fitLda(
  xs: readonly Float64Array[],
  labels: readonly number[],
  dim: number,
  shrink = 0.05,
): { projection: number[]; ratios: number[] } {
  const d = xs[0].length;
  const classes = [...new Set(labels)];
  const mu = new Float64Array(d);
  for (const x of xs) for (let i = 0; i < d; i++) mu[i] += x[i] / xs.length;
  const sw = zeros(d, d);
  const sb = zeros(d, d);
  for (const c of classes) {
    const members = xs.filter((_, k) => labels[k] === c);
    const m = new Float64Array(d);
    for (const x of members) for (let i = 0; i < d; i++) m[i] += x[i] / members.length;
    for (const x of members) {
      for (let i = 0; i < d; i++)
        for (let j = 0; j < d; j++) sw[i][j] += ((x[i] - m[i]) * (x[j] - m[j])) / xs.length;
    }
    for (let i = 0; i < d; i++) {
      for (let j = 0; j < d; j++) sb[i][j] += (members.length * (m[i] - mu[i]) * (m[j] - mu[j])) / xs.length;
    }
  }
  let trace = 0;
  for (let i = 0; i < d; i++) trace += sw[i][i];
  for (let i = 0; i < d; i++) sw[i][i] += (shrink * trace) / d;
  // Whiten the within-class scatter (W = E Λ^-1/2), then the between-class scatter's main axes in that space.
  const we = symmetricEigen(sw);
  const w = zeros(d, d);
  for (let i = 0; i < d; i++)
    for (let j = 0; j < d; j++) w[i][j] = we.vectors[i][j] / Math.sqrt(we.values[j]);
  // Wᵀ Sb W as two products (Sb W first): d³, not d⁴, operations.
  const bw = multiply(w, multiply(sb, w), true);
  const be = symmetricEigen(bw);
  const projection: number[] = [];
  for (let i = 0; i < d; i++) {
    for (let j = 0; j < dim; j++) {
      let s = 0;
      for (let k = 0; k < d; k++) s += w[i][k] * be.vectors[k][j];
      projection.push(s);
    }
  }
  return { projection, ratios: be.values.slice(0, dim) };
}

/** Equal error rate of same- and different-speaker scores. */
export function equalErrorRate(
  same: readonly number[],
  diff: readonly number[],
): { eer: number; at: number } {
  const all = [...same.map((s) => ({ s, same: true })), ...diff.map((s) => ({ s, same: false }))];
  all.sort((a, b) => a.s - b.s);
  // Threshold just above all[i]: misses = same scores <= it, false alarms = different scores above it.
  let miss = 0;
  let fa = diff.length;
  let best = { eer: 1, at: all[0]?.s ?? 0 };
  for (const p of all) {
    if (p.same) miss++;
    else fa--;
    const m = miss / same.length;
    const f = fa / diff.length;
    if (Math.max(m, f) < best.eer) best = { eer: Math.max(m, f), at: p.s };
  }
  return best;
}

/**
 * Logistic regression of same (1) / different (0) on one score, each class weighted to half the total (equal
 * priors): log-odds = slope × score + offset. Newton's method.
 */
export function logisticCalibration(
  same: readonly number[],
  diff: readonly number[],
): { slope: number; offset: number } {
  let a = 1;
  let b = 0;
  const data = [
    ...same.map((s) => ({ s, y: 1, w: 0.5 / same.length })),
    ...diff.map((s) => ({ s, y: 0, w: 0.5 / diff.length })),
  ];
  for (let it = 0; it < 50; it++) {
    let ga = 0;
    let gb = 0;
    let haa = 0;
    let hab = 0;
    let hbb = 0;
    for (const { s, y, w } of data) {
      const p = 1 / (1 + Math.exp(-(a * s + b)));
      const r = w * (p - y);
      ga += r * s;
      gb += r;
      const h = w * p * (1 - p);
      haa += h * s * s;
      hab += h * s;
      hbb += h;
    }
    const det = haa * hbb - hab * hab;
    const da = (hbb * ga - hab * gb) / det;
    const db = (haa * gb - hab * ga) / det;
    a -= da;
    b -= db;
    if (Math.abs(da) + Math.abs(db) < 1e-10) break;
  }
  return { slope: a, offset: b };
}
