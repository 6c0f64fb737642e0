// uaqf HTML report: builds the interactive parts of the page from the report model embedded in
// #uaqf-data (schema uaqf.report/1, docs/report.md). Every element is made with createElement
// and filled with textContent: text from models, datasets or files never becomes markup.
'use strict';
(function () {
  const data = JSON.parse(document.getElementById('uaqf-data').textContent);

  // ---------------------------------------------------------------------------------------------
  // Helpers

  function el(tag, props, children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (key === 'text') node.textContent = value;
      else if (key === 'class') node.className = value;
      else node.setAttribute(key, value);  // an attribute value, never parsed as markup
    }
    for (const child of children || []) node.append(child);  // strings become text nodes
    return node;
  }

  // As the C++ side prints numbers ({:.4g}): four significant digits, no trailing zeros.
  function num(x) {
    if (typeof x !== 'number' || !Number.isFinite(x)) return '–';
    if (x === 0) return '0';
    const abs = Math.abs(x);
    if (abs >= 1e-4 && abs < 1e15) return String(parseFloat(x.toPrecision(4)));
    return x.toExponential(3).replace(/\.?0+e/, 'e');
  }
  // Whole percent, halves to even as C's printf("%.0f") does, so the page says what the CLI says.
  function pct(x) {
    if (typeof x !== 'number') return '–';
    const v = 100 * x;
    let r = Math.round(v);
    if (r - v === 0.5 && r % 2 !== 0) r -= 1;
    return r + '%';
  }
  // std::map orders keys by their bytes; for the ASCII names of metrics and variants that is
  // the UTF-16 order of JavaScript's < on strings.
  function byName(a, b) {
    return a < b ? -1 : a > b ? 1 : 0;
  }

  const metricInfo = new Map(data.metrics.map((m) => [m.name, m]));
  const weighted = data.metrics.filter((m) => typeof m.weight === 'number').map((m) => m.name).sort(byName);
  const variantInfo = new Map(data.variants.map((v) => [v.name, v]));
  const profileWeights = {};
  for (const name of weighted) profileWeights[name] = metricInfo.get(name).weight;
  const state = { weights: Object.assign({}, profileWeights), changed: false, ranking: null };

  function unitText(name) {
    const m = metricInfo.get(name);
    const unit = m && m.unit ? ' (' + m.unit + ')' : '';
    const better = m && m.direction ? (m.direction === 'higher' ? ', higher is better' : ', lower is better') : '';
    return name + unit + better;
  }

  // ---------------------------------------------------------------------------------------------
  // The decision's ranking, redone for any weights (src/decide/decide.cpp, docs/decide.md). The
  // normalized values do not depend on the weights, so U = sum_k (w_k / sum w) * normalized_k
  // over the metrics with w_k > 0, summed in name order as the C++ code does, which gives the very
  // same doubles for the profile's weights. Feasibility comes from the constraints alone.

  function rank(weights) {
    let total = 0;
    for (const name of weighted) total += weights[name] > 0 ? weights[name] : 0;
    if (!(total > 0)) return null;
    const active = weighted.filter((name) => weights[name] > 0);
    const rows = data.ranking.map((r) => {
      let utility = 0;
      for (const name of active) utility += (weights[name] / total) * r.normalized[name];
      return { source: r, name: r.name, feasible: r.feasible, utility, dominatedBy: [], dominates: 0 };
    });
    // Dominance on the point estimates of the metrics that carry weight.
    const dominates = (a, b) => {
      let strictly = false;
      for (const name of active) {
        const higher = metricInfo.get(name).direction === 'higher';
        const x = a.source.values[name];
        const y = b.source.values[name];
        if (higher ? x < y : x > y) return false;
        if (x !== y) strictly = true;
      }
      return strictly;
    };
    for (const a of rows) {
      for (const b of rows) {
        if (a !== b && dominates(a, b)) {
          b.dominatedBy.push(a.name);
          a.dominates += 1;
        }
      }
    }
    rows.sort((a, b) => {
      if (a.feasible !== b.feasible) return a.feasible ? -1 : 1;
      if (a.utility !== b.utility) return a.utility > b.utility ? -1 : 1;
      if (a.dominates !== b.dominates) return b.dominates - a.dominates;
      return byName(a.name, b.name);
    });
    // Dominators in the order the decision lists them: the study's variant order.
    const position = new Map(data.variants.map((v, i) => [v.name, i]));
    for (const r of rows) r.dominatedBy.sort((a, b) => position.get(a) - position.get(b));
    return rows;
  }

  // The page must show the decision that uaqf made: check it before anything else.
  function checkAgainstDecision() {
    const rows = rank(profileWeights);
    const problems = [];
    if (rows === null) problems.push('no positive weight');
    else {
      rows.forEach((r, i) => {
        const expected = data.ranking[i];
        if (r.name !== expected.name) problems.push('rank ' + (i + 1) + ': ' + r.name + ' instead of ' + expected.name);
        if (r.dominatedBy.join() !== expected.dominated_by.join()) {
          problems.push(r.name + ': dominated by [' + r.dominatedBy + '] instead of [' + expected.dominated_by + ']');
        }
        const tolerance = 1e-12 * Math.max(1, Math.abs(expected.utility));
        if (Math.abs(r.utility - expected.utility) > tolerance) {
          problems.push(r.name + ': utility ' + r.utility + ' instead of ' + expected.utility);
        }
      });
    }
    if (problems.length > 0) {
      console.error('uaqf report: the page ranks differently from the decision: ' + problems.join('; '));
      document.getElementById('weights-status').textContent =
        'Warning: this page re-ranks differently from uaqf (' + problems.join('; ') + ').';
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Weight sliders and the ranking table

  function renderWeights() {
    const box = document.getElementById('weights');
    const maxWeight = Math.max(1, 2 * Math.max(...weighted.map((n) => profileWeights[n])));
    for (const name of weighted) {
      const share = el('span', { class: 'share' });
      const input = el('input', {
        type: 'range', min: '0', max: String(maxWeight), step: 'any', 'data-metric': name,
        'aria-label': 'weight of ' + name,
      });
      input.value = String(profileWeights[name]);
      input.addEventListener('input', () => {
        state.weights[name] = input.valueAsNumber;
        update();
      });
      box.append(el('label', { class: 'weight' }, [el('span', { text: unitText(name) }), share, input]));
    }
    const reset = el('button', { type: 'button', id: 'reset-weights', text: "Profile's weights" });
    reset.addEventListener('click', () => setWeights(profileWeights));
    box.append(el('div', {}, [reset]));
  }

  function setWeights(weights) {
    for (const input of document.querySelectorAll('#weights input[type=range]')) {
      const name = input.getAttribute('data-metric');
      state.weights[name] = weights[name];
      input.value = String(weights[name]);
    }
    update();
  }

  function renderShares() {
    let total = 0;
    for (const name of weighted) total += state.weights[name] > 0 ? state.weights[name] : 0;
    for (const input of document.querySelectorAll('#weights input[type=range]')) {
      const w = state.weights[input.getAttribute('data-metric')];
      input.parentElement.querySelector('.share').textContent =
        'weight ' + num(w) + (total > 0 ? ' = ' + pct(w / total) : '');
    }
  }

  function whyText(row) {
    const parts = [];
    for (const v of row.source.violations) {
      parts.push('violates ' + v.constraint + ' (value ' + num(v.value) + ', misses by ' + num(v.by) + ')');
    }
    if (row.dominatedBy.length > 0) parts.push('dominated by ' + row.dominatedBy.join(', '));
    for (const note of row.source.notes) parts.push(note);
    return parts.join('; ');
  }

  function renderRanking(rows) {
    const body = document.querySelector('#ranking tbody');
    body.replaceChildren();
    const best = Math.max(...rows.map((r) => r.utility));
    rows.forEach((r, i) => {
      const bar = el('span', { class: 'bar-track' }, [el('span', { class: 'bar' })]);
      bar.firstChild.style.width = (best > 0 ? Math.max(0, (100 * r.utility) / best) : 0) + '%';
      const tr = el('tr', { class: (r.feasible ? '' : 'infeasible') + (i === 0 && r.feasible ? ' top' : '') }, [
        el('td', { class: 'num', text: String(i + 1) }),
        el('td', { class: 'variant', text: r.name }),
        el('td', { text: r.feasible ? 'yes' : 'NO' }),
        el('td', { class: 'num utility' }, [bar, num(r.utility)]),
        el('td', { class: 'num', text: state.changed ? '–' : num(r.source.utility_low) + ' – ' + num(r.source.utility_high) }),
        el('td', { class: 'num', text: state.changed ? '–' : pct(r.source.win_probability) }),
        el('td', { text: r.dominatedBy.length === 0 ? 'yes' : 'no' }),
        el('td', { text: whyText(r) }),
      ]);
      if (variantInfo.get(r.name) && variantInfo.get(r.name).is_baseline) {
        tr.children[1].append(el('span', { class: 'status', text: ' (baseline)' }));
      }
      body.append(tr);
    });
  }

  function update() {
    state.changed = weighted.some((n) => state.weights[n] !== profileWeights[n]);
    renderShares();
    const status = document.getElementById('weights-status');
    const rows = rank(state.weights);
    if (rows === null) {
      status.textContent = 'Give at least one metric a weight above 0.';
      status.className = 'status changed';
      return;
    }
    state.ranking = rows;
    renderRanking(rows);
    const top = rows[0].feasible ? rows[0].name : 'none (no variant meets the constraints)';
    if (state.changed) {
      status.textContent = 'Weights changed: top variant ' + top +
        '. Utilities and order are recomputed; the interval and P(best) hold for the profile\'s weights only.';
      status.className = 'status changed';
    } else {
      status.textContent = "The profile's weights: top variant " + top + ', as uaqf decided.';
      status.className = 'status';
    }
    updatePareto();
  }

  // ---------------------------------------------------------------------------------------------
  // Charts (Chart.js with chartjs-chart-error-bars, inlined)

  Chart.defaults.animation = false;
  Chart.defaults.font.family = 'system-ui, sans-serif';
  const palette = ['#2f5bd3', '#1a7f37', '#b42318', '#9a6700', '#6f42c1', '#0b7285', '#c2255c', '#495057'];

  function interval(variant, metric) {
    const v = variantInfo.get(variant);
    const s = v && v.metrics[metric];
    if (!s || typeof s.ci_low !== 'number') return null;
    return [s.ci_low, s.ci_high];
  }

  // Names beside the points of a scatter chart, drawn on the canvas (no markup involved).
  const pointLabels = {
    id: 'uaqfPointLabels',
    afterDatasetsDraw(chart) {
      const ctx = chart.ctx;
      ctx.save();
      ctx.font = '12px system-ui, sans-serif';
      ctx.fillStyle = '#1d2433';
      chart.data.datasets.forEach((dataset, i) => {
        chart.getDatasetMeta(i).data.forEach((point, j) => {
          ctx.fillText(dataset.data[j].name, point.x + 7, point.y - 7);
        });
      });
      ctx.restore();
    },
  };

  const pareto = { chart: null, x: null, y: null };
  const paretoMetrics = data.metrics
    .filter((m) => data.ranking.length > 0 && typeof data.ranking[0].values[m.name] === 'number')
    .map((m) => m.name);

  function renderParetoControls() {
    const byWeight = weighted.slice().sort((a, b) => profileWeights[b] - profileWeights[a]);
    pareto.x = byWeight[0] || paretoMetrics[0];
    pareto.y = byWeight[1] || paretoMetrics[1] || paretoMetrics[0];
    for (const [id, key] of [['pareto-x', 'x'], ['pareto-y', 'y']]) {
      const select = document.getElementById(id);
      for (const name of paretoMetrics) select.append(el('option', { value: name, text: name }));
      select.value = pareto[key];
      select.addEventListener('change', () => {
        pareto[key] = select.value;
        updatePareto();
      });
    }
  }

  function updatePareto() {
    const rows = state.ranking;
    if (!rows || !pareto.x) return;
    const groups = [
      { label: 'Pareto front', color: '#1a7f37', rows: rows.filter((r) => r.feasible && r.dominatedBy.length === 0) },
      { label: 'dominated', color: '#5b6478', rows: rows.filter((r) => r.feasible && r.dominatedBy.length > 0) },
      { label: 'infeasible', color: '#b42318', rows: rows.filter((r) => !r.feasible) },
    ];
    const datasets = groups.map((g) => ({
      label: g.label,
      backgroundColor: g.color,
      borderColor: g.color,
      pointRadius: 5,
      data: g.rows.map((r) => {
        const x = r.source.values[pareto.x];
        const y = r.source.values[pareto.y];
        const xi = interval(r.name, pareto.x);
        const yi = interval(r.name, pareto.y);
        const point = { name: r.name, x, y };
        if (xi) Object.assign(point, { xMin: xi[0], xMax: xi[1] });
        if (yi) Object.assign(point, { yMin: yi[0], yMax: yi[1] });
        return point;
      }),
    }));
    if (pareto.chart) {
      pareto.chart.data.datasets = datasets;
      pareto.chart.options.scales.x.title.text = unitText(pareto.x);
      pareto.chart.options.scales.y.title.text = unitText(pareto.y);
      pareto.chart.update();
      return;
    }
    pareto.chart = new Chart(document.getElementById('pareto-chart'), {
      type: 'scatterWithErrorBars',
      data: { datasets },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        scales: {
          x: { type: 'linear', title: { display: true, text: unitText(pareto.x) } },
          y: { type: 'linear', title: { display: true, text: unitText(pareto.y) } },
        },
        plugins: {
          tooltip: {
            callbacks: {
              label: (item) => item.raw.name + ': ' + num(item.raw.x) + ', ' + num(item.raw.y),
            },
          },
        },
      },
      plugins: [pointLabels],
    });
  }

  const okVariants = data.variants.filter((v) => v.status === 'ok').map((v) => v.name);

  function metricChart(container, metric) {
    const canvas = el('canvas', { role: 'img', 'aria-label': 'chart of ' + metric });
    container.append(el('div', {}, [
      el('div', { class: 'chart-title', text: unitText(metric) }),
      el('div', { class: 'chart-box' }, [canvas]),
    ]));
    const points = okVariants.map((name) => {
      const s = variantInfo.get(name).metrics[metric];
      if (!s) return { y: null };
      // Measured once: no interval, so no error bar at all (not a zero-length one).
      return typeof s.ci_low === 'number' ? { y: s.mean, yMin: s.ci_low, yMax: s.ci_high } : { y: s.mean };
    });
    return new Chart(canvas, {
      type: 'barWithErrorBars',
      data: {
        labels: okVariants,
        datasets: [{
          label: metric,
          data: points,
          backgroundColor: okVariants.map((_, i) => palette[i % palette.length] + '99'),
          borderColor: okVariants.map((_, i) => palette[i % palette.length]),
          borderWidth: 1,
        }],
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        plugins: { legend: { display: false } },
        scales: { y: { beginAtZero: true } },
      },
    });
  }

  function renderMetricCharts() {
    const main = document.getElementById('metric-charts');
    const more = document.getElementById('metric-charts-more');
    const later = [];
    for (const m of data.metrics) {
      if (!m.measured) continue;
      if (m.role === 'measured') later.push(m.name);
      else metricChart(main, m.name);
    }
    const details = document.getElementById('more-metrics');
    if (later.length === 0) {
      details.hidden = true;
      return;
    }
    // Built when first opened: a chart needs a laid-out box, and most readers never open it.
    let built = false;
    details.addEventListener('toggle', () => {
      if (!details.open || built) return;
      built = true;
      for (const name of later) metricChart(more, name);
    });
  }

  // Goodput against load for each served variant (the section exists only with serving data).
  function renderServingChart() {
    const canvas = document.getElementById('serving-chart');
    if (!canvas || !data.serving) return;
    const variants = data.serving.variants;
    const mode = variants.length > 0 && variants[0].levels.length > 0 ? variants[0].levels[0].mode : 'level';
    new Chart(canvas, {
      type: 'line',
      data: {
        datasets: variants.map((v, i) => ({
          label: v.variant,
          data: v.levels.map((l) => ({ x: l.value, y: l.goodput_rps })),
          borderColor: palette[i % palette.length],
          backgroundColor: palette[i % palette.length],
        })),
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        scales: {
          x: { type: 'linear', title: { display: true, text: mode === 'rate' ? 'offered rate (req/s)' : 'concurrency' } },
          y: { beginAtZero: true, title: { display: true, text: 'goodput (req/s within the SLOs)' } },
        },
      },
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Tables: values, paired tests, sensitivity, failures, notes

  function renderMetricTable() {
    const head = document.querySelector('#metric-table thead');
    const body = document.querySelector('#metric-table tbody');
    head.append(el('tr', {}, ['metric', 'unit', 'better', 'role', ...okVariants].map((t) => el('th', { text: t }))));
    for (const m of data.metrics) {
      if (!m.measured) continue;
      const cells = [m.name, m.unit, m.direction || '–', m.role].map((t) => el('td', { text: t }));
      for (const name of okVariants) {
        const s = variantInfo.get(name).metrics[m.name];
        let t = '–';
        if (s) {
          t = num(s.mean);
          if (typeof s.ci_low === 'number') t += ' (' + num(s.ci_low) + ' – ' + num(s.ci_high) + ')';
          t += ' n=' + s.n + (s.unstable ? ' unstable' : '');
        }
        cells.push(el('td', { class: 'num', text: t }));
      }
      body.append(el('tr', {}, cells));
    }
  }

  function renderBaselineTests() {
    const rows = [];
    for (const r of data.ranking) {
      for (const t of r.vs_baseline) {
        const difference = t.test === 'mcnemar'
          ? (t.difference >= 0 ? '+' : '') + (100 * t.difference).toFixed(1) + ' points'
          : (t.difference >= 0 ? '+' : '') + num(t.difference);
        const ci = typeof t.ci_low === 'number' ? num(t.ci_low) + ' – ' + num(t.ci_high) : '–';
        // A bootstrap p of 0 only says "below the resolution 1 / resamples".
        const p = t.test === 'paired_bootstrap' && t.p_value === 0
          ? '< ' + num(1 / data.recommendation.bootstrap_resamples) : num(t.p_value);
        rows.push([r.name, t.measure, t.test, String(t.n), difference, ci, p, t.p_value < 0.05 ? 'yes' : 'no']);
      }
    }
    if (rows.length === 0) return;
    const box = document.getElementById('baseline-tests');
    box.append(el('h3', { text: 'Against the baseline (paired tests)' }));
    box.append(el('table', {}, [
      el('thead', {}, [el('tr', {}, ['variant', 'measure', 'test', 'n', 'difference', '95% CI', 'p', 'significant at 5%']
        .map((t) => el('th', { text: t })))]),
      el('tbody', {}, rows.map((row) => el('tr', {}, row.map((t) => el('td', { text: t }))))),
    ]));
  }

  function renderSensitivity() {
    const box = document.getElementById('sensitivity');
    const rec = data.recommendation.variant;
    if (data.sensitivity.length === 0) {
      box.append(el('p', { text: 'No feasible runner-up, so no change of weights can alter the recommendation.' }));
      return;
    }
    box.append(el('p', {
      text: 'The smallest transfer of weight (weights summing to 1) from one metric to another that makes each ' +
        'feasible runner-up tie with ' + rec + '. A shift close to the whole weight of its metric, or none, means ' +
        'the choice does not hinge on how the weights are set. "Apply" moves the sliders by that amount.',
    }));
    const rows = data.sensitivity.map((s) => {
      let what;
      let bar = '';
      let apply = '';
      if (!s.exists) what = 'no single transfer of weight lets it catch up';
      else if (!s.from_metric) what = 'already ties';
      else {
        const share = metricInfo.get(s.from_metric).weight_share;
        what = 'move ' + num(s.weight_shift) + ' from ' + s.from_metric + ' (weight ' + num(share) + ') to ' + s.to_metric;
        bar = el('span', { class: 'bar-track', title: 'shift needed / weight of ' + s.from_metric }, [el('span', { class: 'bar' })]);
        bar.firstChild.style.width = Math.min(100, (100 * s.weight_shift) / share) + '%';
        apply = el('button', { type: 'button', text: 'Apply' });
        apply.addEventListener('click', () => {
          const shares = {};
          for (const name of weighted) shares[name] = metricInfo.get(name).weight_share;
          shares[s.from_metric] -= s.weight_shift;
          shares[s.to_metric] += s.weight_shift;
          setWeights(shares);
        });
      }
      return el('tr', {}, [el('td', { text: s.runner_up }), el('td', {}, [bar, what]), el('td', {}, [apply])]);
    });
    box.append(el('table', {}, [
      el('thead', {}, [el('tr', {}, ['runner-up', 'what makes it tie', ''].map((t) => el('th', { text: t })))]),
      el('tbody', {}, rows),
    ]));
  }

  function renderFailuresAndNotes() {
    const failed = data.variants.filter((v) => v.status !== 'ok');
    if (failed.length > 0) {
      const box = document.getElementById('failed');
      box.append(el('h3', { text: 'Failed variants' }));
      box.append(el('ul', {}, failed.map((v) => el('li', { text: v.name + ': ' + (v.error || 'failed') }))));
    }
    if (data.notes.length > 0) {
      const box = document.getElementById('notes');
      box.append(el('h2', { text: 'Notes' }));
      box.append(el('ul', {}, data.notes.map((n) => el('li', { text: n }))));
    } else {
      document.getElementById('notes-section').hidden = true;
    }
  }

  try {
    renderWeights();
    renderParetoControls();
    update();
    checkAgainstDecision();
    renderSensitivity();
    renderMetricCharts();
    renderServingChart();
    renderMetricTable();
    renderBaselineTests();
    renderFailuresAndNotes();
    document.body.setAttribute('data-ready', 'true');
  } catch (error) {
    console.error('uaqf report: ' + (error && error.stack ? error.stack : error));
  }
})();
