// The dashboard page's script (plain browser JavaScript, inlined into the page; no request of
// its own). It reads the answers embedded in #fleet-data and, in the live page, asks the
// server for more: api/impact, api/drain, api/action, and status pushed on "events".
(() => {
  'use strict';
  const data = JSON.parse(document.getElementById('fleet-data').textContent);
  const live = data.mode === 'live';
  const svg = document.getElementById('fleet');
  const NS = 'http://www.w3.org/2000/svg';
  const $ = (sel, root = document) => root.querySelector(sel);
  const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));
  const h = (tag, attrs = {}, ...children) => {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === 'onclick') el.addEventListener('click', v);
      else if (v !== undefined && v !== null && v !== false) el.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children.flat())
      if (c !== null && c !== undefined && c !== false) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return el;
  };

  // ---- index of the picture --------------------------------------------------------------------
  const hostEls = new Map($$('g.host', svg).map((g) => [g.dataset.host, g]));
  // A row is a <g> (box, dot, text) or, in a big fleet's compact picture, a <tspan> of its card's text.
  const serviceRows = new Map($$('.row.service', svg).map((g) => [g.dataset.service, g]));
  const clusterRows = new Map($$('.row.cluster', svg).map((g) => [g.dataset.cluster, g]));
  let edges = $$('path.edge', svg);
  const edgeLayer = $('g.edges', svg);
  const hostNames = data.fleet.hosts;

  // ---- tabs ---------------------------------------------------------------------------------------
  const tabs = $$('nav [role=tab]');
  // A tab's content is built when it is first shown (a big fleet's tables cost the first paint otherwise).
  const firstShow = {};
  const shown = new Set(['whatif']);
  const show = (name) => {
    for (const t of tabs) t.setAttribute('aria-selected', String(t.dataset.tab === name));
    for (const p of $$('.tab')) p.hidden = p.id !== `tab-${name}`;
    if (!shown.has(name)) {
      shown.add(name);
      firstShow[name]?.();
    }
    if (name === 'status') renderStatusTab();
    if (name === 'drift') renderDriftTab();
  };
  for (const t of tabs) t.addEventListener('click', () => show(t.dataset.tab));

  // ---- zoom and search ------------------------------------------------------------------------------
  const W = Number(svg.getAttribute('width'));
  const H = Number(svg.getAttribute('height'));
  let scale = 1;
  const zoom = (s) => {
    scale = Math.max(0.05, Math.min(4, s));
    svg.setAttribute('width', String(W * scale));
    svg.setAttribute('height', String(H * scale));
  };
  const fit = () => {
    const c = $('#canvas');
    zoom(Math.min(1, c.clientWidth / W, c.clientHeight / H));
  };
  $('#zoom-in').addEventListener('click', () => zoom(scale * 1.25));
  $('#zoom-out').addEventListener('click', () => zoom(scale / 1.25));
  $('#zoom-fit').addEventListener('click', fit);
  $('#canvas').addEventListener(
    'wheel',
    (e) => {
      if (!e.ctrlKey) return;
      e.preventDefault();
      zoom(scale * (e.deltaY < 0 ? 1.1 : 1 / 1.1));
    },
    { passive: false },
  );
  $('#search').addEventListener('input', (e) => {
    const q = e.target.value.trim().toLowerCase();
    $$('.match', svg).forEach((el) => el.classList.remove('match'));
    if (q === '') return;
    const hits = [
      ...$$('.row', svg).filter((r) => (r.dataset.service || r.dataset.cluster || '').toLowerCase().includes(q)),
      ...[...hostEls.values()].filter((g) => g.dataset.host.toLowerCase().includes(q)),
    ];
    hits.forEach((el) => el.classList.add('match'));
    if (hits[0]) hits[0].scrollIntoView({ block: 'center', inline: 'center' });
  });

  // ---- highlighting ---------------------------------------------------------------------------------
  const clearMarks = (...classes) => {
    for (const c of classes) $$(`.${c}`, svg).forEach((el) => el.classList.remove(c));
  };
  const rowOf = (kind, id) => (kind === 'cluster' ? clusterRows.get(id) : serviceRows.get(id));
  // Unrouted pictures (big fleets) carry their edges as data and draw only those of what is selected.
  const drawn = new Set();
  /** The drawn edges by their ends (built when first needed). */
  let drawnEdges = null;
  const drawEdge = ([kind, from, to, x1, y1, x2, y2]) => {
    const key = `${kind}|${from}|${to}`;
    if (drawn.has(key)) return;
    drawn.add(key);
    const p = document.createElementNS(NS, 'path');
    p.setAttribute('class', `edge edge-${kind} near`);
    p.dataset.kind = kind;
    p.dataset.from = from;
    p.dataset.to = to;
    const mx = (x1 + x2) / 2;
    p.setAttribute('d', `M${x1} ${y1} C${mx} ${y1} ${mx} ${y2} ${x2} ${y2}`);
    p.setAttribute('marker-end', `url(#arrow-${kind})`);
    edgeLayer.append(p);
    edges.push(p);
    const ends = `${from}\n${to}`;
    if (drawnEdges && !drawnEdges.has(ends)) drawnEdges.set(ends, []);
    drawnEdges?.get(ends).push(p);
  };
  // Edges by their ends: a what-if answer lights thousands of steps in a big fleet.
  const byEnds = (list, ends) => {
    const index = new Map();
    for (const e of list) {
      const key = ends(e);
      if (!index.has(key)) index.set(key, []);
      index.get(key).push(e);
    }
    return index;
  };
  const dataEdges = data.edges ? byEnds(data.edges, (e) => `${e[1]}\n${e[2]}`) : new Map();
  const lightEdge = (kind, from, to) => {
    for (const e of dataEdges.get(`${from}\n${to}`) || []) if (!kind || e[0] === kind) drawEdge(e);
    drawnEdges ??= byEnds(edges, (e) => `${e.dataset.from}\n${e.dataset.to}`);
    for (const e of drawnEdges.get(`${from}\n${to}`) || []) if (!kind || e.dataset.kind === kind) e.classList.add('lit');
  };
  const hostOfEnd = (name) => {
    const row = serviceRows.get(name) || clusterRows.get(name);
    return row ? row.dataset.host : name;
  };
  const nearEdges = (names) => {
    if (!data.edges) return;
    for (const e of edges) e.remove();
    edges = [];
    drawnEdges = null;
    drawn.clear();
    const set = new Set(names);
    for (const e of data.edges) if (set.has(hostOfEnd(e[1])) || set.has(hostOfEnd(e[2]))) drawEdge(e);
  };

  const stepText = (s) => {
    const what = s.to_kind === 'cluster' ? `database cluster ${s.to}` : s.to;
    const where = s.to_host ? ` on ${s.to_host}` : '';
    if (s.state === 'unreachable') {
      const route = s.route
        ? ` (route ${s.route.hops.map((x) => x.host || x.name || JSON.stringify(x)).join(' → ')} needs ${[...s.route.offline, ...s.route.tunnels].join(', ')})`
        : '';
      return `${s.from} ${s.kind === 'database' ? 'uses' : 'depends on'} ${what}${where}: out of reach${route}`;
    }
    return `${s.from} ${s.kind === 'database' ? 'uses' : 'depends on'} ${what}${where}, which is ${s.state}`;
  };

  // ---- what if ------------------------------------------------------------------------------------
  const offline = new Set();
  const whatif = $('#tab-whatif');

  function independenceBlock() {
    const r = data.independence;
    const box = h('div', { class: 'independence' }, h('h2', {}, 'check independence'));
    if (!r.hosts || r.hosts.length === 0) box.append(h('p', { class: 'muted' }, 'No host has the role workstation or dev: nothing to check.'));
    else {
      box.append(
        h(
          'p',
          { class: r.ok ? 'ok' : 'bad' },
          r.ok ? '✔ production runs with every workstation and dev host offline' : '✖ production depends on a workstation or dev host',
        ),
      );
      const ul = h('ul');
      for (const x of r.hosts)
        ul.append(
          h(
            'li',
            {},
            h('span', { class: x.ok ? 'ok' : 'bad' }, x.ok ? '✔ ' : '✖ '),
            `${x.host} (${x.role})`,
            x.ok ? '' : `: ${x.down} down, ${x.degraded} degraded, ${x.critical_tunnels} critical tunnels`,
          ),
        );
      if (r.together)
        ul.append(
          h(
            'li',
            {},
            h('span', { class: r.together.ok ? 'ok' : 'bad' }, r.together.ok ? '✔ ' : '✖ '),
            `all at once (${r.together.hosts.join(', ')})`,
          ),
        );
      box.append(
        ul,
        h('button', { class: 'act', onclick: () => setOffline(r.together ? r.together.hosts : r.hosts.map((x) => x.host)) }, 'take them all offline'),
      );
    }
    return box;
  }

  function renderWhatIfIntro(note) {
    whatif.replaceChildren(
      h(
        'p',
        { class: 'hint' },
        'Click hosts in the picture to take them offline: what goes down, what degrades and why (paths in red), which data is out of reach and which tunnels and lanes break — the answers of ',
        h('code', {}, 'impact'),
        '.',
      ),
      note ? h('p', { class: 'warn' }, note) : '',
      independenceBlock(),
    );
  }

  function setOffline(names) {
    offline.clear();
    for (const n of names) offline.add(n);
    refreshWhatIf();
  }

  async function impactFor(names) {
    if (live) {
      const qs = names.map((n) => `host=${encodeURIComponent(n)}`).join('&');
      const res = await fetch(`api/impact?${qs}`, { headers: { accept: 'application/json' } });
      const body = await res.json();
      if (!res.ok) throw new Error(body.error ? body.error.message : `HTTP ${res.status}`);
      return body;
    }
    if (names.length === 1 && data.impacts && data.impacts[names[0]]) return data.impacts[names[0]];
    return null;
  }

  let whatIfSeq = 0;
  async function refreshWhatIf() {
    for (const [name, g] of hostEls) g.classList.toggle('offline', offline.has(name));
    clearMarks('w-down', 'w-degraded', 'w-lost', 'lit');
    if (offline.size === 0) {
      nearEdges([]);
      renderWhatIfIntro();
      return;
    }
    const names = [...offline];
    nearEdges(names);
    const seq = ++whatIfSeq;
    let r;
    try {
      r = await impactFor(names);
    } catch (err) {
      whatif.replaceChildren(h('p', { class: 'bad' }, `impact failed: ${err.message}`));
      return;
    }
    if (seq !== whatIfSeq) return;
    if (!r) {
      renderWhatIfIntro(
        data.impacts
          ? 'This static page holds the answer for one host at a time; run `manage-apps ui` for several hosts at once.'
          : 'This static page is too big to hold every what-if answer; run `manage-apps ui` to ask.',
      );
      return;
    }
    showImpact(r);
  }

  function showImpact(r) {
    for (const s of r.down) serviceRows.get(s.id)?.classList.add('w-down');
    for (const s of r.degraded) {
      serviceRows.get(s.id)?.classList.add('w-degraded');
      for (const step of [...s.via, ...s.failing]) lightEdge(step.kind, step.from, step.to);
    }
    for (const d of r.data) rowOf(d.kind, d.name)?.classList.add('w-lost');
    for (const t of r.tunnels) lightEdge('tunnel', t.from, t.to);
    const out = [h('h2', { id: 'impact-title' }, `If ${r.offline.join(' and ')} ${r.offline.length === 1 ? 'goes' : 'go'} offline`)];
    out.push(h('h2', {}, `Down (${r.down.length})`));
    out.push(
      r.down.length
        ? h(
            'ul',
            { id: 'impact-down' },
            r.down.map((s) => h('li', { 'data-id': s.id }, `✖ ${s.id}`, s.environment === 'prod' ? '' : ` [${s.environment}]`, ` on ${s.host}`)),
          )
        : h('p', { class: 'muted' }, 'nothing runs there'),
    );
    out.push(h('h2', {}, `Degraded (${r.degraded.length})`));
    out.push(
      r.degraded.length
        ? h(
            'ul',
            { id: 'impact-degraded' },
            r.degraded.map((s) =>
              h(
                'li',
                { 'data-id': s.id },
                `! ${s.id}`,
                s.environment === 'prod' ? '' : ` [${s.environment}]`,
                ` on ${s.host}`,
                ...s.via.map((step) => h('div', { class: 'why' }, stepText(step))),
              ),
            ),
          )
        : h(
            'p',
            { class: 'muted' },
            (r.domains || []).length + (r.backups || []).length === 0 ? 'nothing else is affected' : 'no other service relies on them',
          ),
    );
    if ((r.domains || []).length) {
      out.push(h('h2', {}, `Domains dark (${r.domains.length})`));
      out.push(
        h(
          'ul',
          { id: 'impact-domains' },
          r.domains.map((d) =>
            h(
              'li',
              {},
              `✖ ${d.domain} → ${d.service}: `,
              d.reason === 'service-down'
                ? `${d.service} is down`
                : d.reason === 'edge-offline'
                  ? `its edges (${d.edges.join(', ')}) are offline`
                  : `its edges (${d.edges.join(', ')}) cannot reach it`,
            ),
          ),
        ),
      );
    }
    if ((r.backups || []).length) {
      out.push(h('h2', {}, `Backups lost (${r.backups.length})`));
      out.push(
        h(
          'ul',
          { id: 'impact-backups' },
          r.backups.map((b) => h('li', {}, `! ${b.of}: its backups on ${b.host} are gone until re-made`)),
        ),
      );
    }
    out.push(h('h2', {}, `Data out of reach (${r.data.length})`));
    if (r.data.length) {
      out.push(
        h(
          'table',
          { id: 'impact-data' },
          h('tr', {}, h('th', {}, 'data'), h('th', {}, 'host'), h('th', {}, 'why'), h('th', {}, 'backup')),
          r.data.map((d) =>
            h(
              'tr',
              {},
              h('td', {}, d.kind === 'cluster' ? `${d.name} (${d.engine})` : `${d.name} (stateful)`),
              h('td', {}, d.host),
              h('td', {}, d.reason === 'host-offline' ? 'host offline' : `no route from ${(d.unreachable_from || []).join(', ')}`),
              h(
                'td',
                { class: d.backup ? '' : d.backup_status === 'cache' ? 'muted' : 'bad' },
                d.backup
                  ? `${d.backup.rpo} / ${d.backup.rto}`
                  : d.backup_status === 'cache'
                    ? 'cache'
                    : d.backup_status === 'lost-with-host'
                      ? 'kept there: lost'
                      : 'no policy',
              ),
            ),
          ),
        ),
      );
    } else out.push(h('p', { class: 'muted' }, 'no data lives there'));
    out.push(h('h2', {}, `Tunnels broken (${r.tunnels.length})`));
    out.push(
      r.tunnels.length
        ? h(
            'ul',
            { id: 'impact-tunnels' },
            r.tunnels.map((t) =>
              h(
                'li',
                {},
                `${t.name}: ${t.from} → ${t.to} (${t.direction})`,
                t.carries ? `, carries ${t.carries}` : '',
                t.critical ? h('span', { class: 'warn' }, ' critical') : '',
              ),
            ),
          )
        : h('p', { class: 'muted' }, 'no tunnel ends there'),
    );
    if (r.lanes.length) {
      out.push(h('h2', {}, `Lanes broken (${r.lanes.length})`));
      out.push(
        h(
          'ul',
          { id: 'impact-lanes' },
          r.lanes.map((l) =>
            h(
              'li',
              {},
              `${l.carries}: ${l.from} ⇢ ${l.through} ⇢ ${l.to} over ${l.tunnels.join(', ')}`,
              l.critical ? h('span', { class: 'warn' }, ' critical') : '',
            ),
          ),
        ),
      );
    }
    if (r.notes.length)
      out.push(
        h('h2', {}, 'Notes'),
        h(
          'ul',
          {},
          r.notes.map((n) => h('li', {}, n)),
        ),
      );
    out.push(h('p', {}, h('button', { class: 'act', onclick: () => setOffline([]) }, 'bring every host back')));
    whatif.replaceChildren(...out);
    show('whatif');
  }

  for (const [name, g] of hostEls) {
    const toggle = (e) => {
      if (e.target.closest && e.target.closest('.act')) return;
      if (offline.has(name)) offline.delete(name);
      else offline.add(name);
      refreshWhatIf();
    };
    g.addEventListener('click', toggle);
    g.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' || e.key === ' ') {
        e.preventDefault();
        toggle(e);
      }
    });
  }

  // ---- drain --------------------------------------------------------------------------------------
  const drainTab = $('#tab-drain');
  const overlay = document.createElementNS(NS, 'g');
  overlay.setAttribute('class', 'overlay');
  svg.append(overlay);
  const hostSelect = (id, initial) =>
    h(
      'select',
      { id },
      hostNames.map((n) => h('option', { value: n, selected: n === initial }, n)),
    );
  let drainFrom;
  let drainTo;
  const drainOut = h('div', { id: 'drain-result' });
  firstShow.drain = () => {
    drainFrom = hostSelect('drain-from', hostNames[0]);
    drainTo = hostSelect('drain-to', hostNames[1] || hostNames[0]);
    drainTab.append(
      h('p', { class: 'hint' }, 'Pick a host to empty and where to move it: the waves of ', h('code', {}, 'drain'), ' are drawn on the picture.'),
      h('p', {}, 'move ', drainFrom, ' to ', drainTo, ' ', h('button', { id: 'drain-go', class: 'act', onclick: () => runDrain() }, 'plan')),
      drainOut,
    );
  };

  async function drainFor(a, b) {
    if (live) {
      const res = await fetch(`api/drain?host=${encodeURIComponent(a)}&to=${encodeURIComponent(b)}`, { headers: { accept: 'application/json' } });
      const body = await res.json();
      if (!res.ok) throw new Error(body.error ? body.error.message : `HTTP ${res.status}`);
      return body;
    }
    return data.drains ? data.drains[`${a}>${b}`] || null : null;
  }

  async function runDrain() {
    const a = drainFrom.value;
    const b = drainTo.value;
    overlay.replaceChildren();
    clearMarks('moving');
    if (a === b) {
      drainOut.replaceChildren(h('p', { class: 'warn' }, 'Pick two different hosts.'));
      return;
    }
    let p;
    try {
      p = await drainFor(a, b);
    } catch (err) {
      drainOut.replaceChildren(h('p', { class: 'bad' }, `drain failed: ${err.message}`));
      return;
    }
    if (!p) {
      drainOut.replaceChildren(h('p', { class: 'warn' }, 'This static page holds drain plans only for small fleets; run `manage-apps ui`.'));
      return;
    }
    drawDrain(p);
  }

  function drawDrain(p) {
    const from = hostEls.get(p.host);
    const to = hostEls.get(p.to);
    if (from && to) {
      const a = from.querySelector('.card').getBBox();
      const b = to.querySelector('.card').getBBox();
      const path = document.createElementNS(NS, 'path');
      path.setAttribute('class', 'drain-arrow');
      path.setAttribute('d', `M${a.x + a.width / 2} ${a.y + a.height / 2} L${b.x + b.width / 2} ${b.y + b.height / 2}`);
      path.setAttribute('marker-end', 'url(#arrow-lit)');
      overlay.append(path);
    }
    for (const w of p.waves) {
      for (const item of w.items) {
        const row = rowOf(item.kind, item.name);
        if (!row) continue;
        row.classList.add('moving');
        // At the right end of the row, on its text's baseline.
        const card = hostEls.get(row.dataset.host).querySelector('.card');
        const text = row.tagName === 'g' ? row.querySelector('text') : row;
        const t = document.createElementNS(NS, 'text');
        t.setAttribute('class', 'wave-badge');
        t.setAttribute('x', String(Number(card.getAttribute('x')) + Number(card.getAttribute('width')) - 28));
        t.setAttribute('y', text.getAttribute('y'));
        t.textContent = `W${w.wave}`;
        overlay.append(t);
      }
    }
    const out = [h('h2', {}, `Drain ${p.host} → ${p.to}`)];
    if (p.register.length === 0) out.push(h('p', {}, `Nothing runs on ${p.host}.`));
    out.push(
      h(
        'ol',
        { id: 'drain-waves' },
        p.waves.map((w) =>
          h(
            'li',
            { value: w.wave },
            w.items.map((i) => (i.kind === 'cluster' ? `${i.name} (db)` : i.name)).join(', '),
            w.label ? h('span', { class: 'muted' }, ` ← ${w.label}`) : '',
          ),
        ),
      ),
    );
    if (p.tunnels.length)
      out.push(
        h('h2', {}, 'Tunnels that end there'),
        h(
          'ul',
          {},
          p.tunnels.map((t) => h('li', {}, `${t.name} (${t.from} → ${t.to}): ${t.suggestion}`)),
        ),
      );
    if (p.warnings.length)
      out.push(
        h('h2', {}, 'Warnings'),
        h(
          'ul',
          {},
          p.warnings.map((w) => h('li', { class: 'warn' }, w.message)),
        ),
      );
    if (p.blocked.length)
      out.push(
        h('h2', { class: 'bad' }, 'Cannot move'),
        h(
          'ul',
          {},
          p.blocked.map((b) => h('li', {}, `${b.name}: ${b.message}`)),
        ),
      );
    out.push(
      h(
        'p',
        { class: p.ok ? 'ok' : 'bad' },
        p.ok ? `✔ ${p.register.length} item(s) in ${p.waves.length} wave(s); everything can move.` : '✖ something cannot move (see above).',
      ),
    );
    drainOut.replaceChildren(...out);
  }

  // ---- backups ------------------------------------------------------------------------------------
  function renderBackups() {
    const r = data.backups;
    const tab = $('#tab-backups');
    const pol = (p) => (p ? [p.rpo, p.rto, p.method] : ['—', '—', '—']);
    const achieved = (x) => {
      const a = x.achieved || x.measured;
      return a ? `${a.rpo ?? '?'} / ${a.rto ?? '?'}` : '';
    };
    const status = (s) => h('td', { class: s === 'ok' ? 'ok' : s === 'cache' ? 'muted' : 'bad' }, s);
    tab.replaceChildren(
      h('h2', {}, 'Database clusters'),
      r.clusters.length
        ? h(
            'table',
            { id: 'backups-clusters' },
            h(
              'tr',
              {},
              ['cluster', 'host', 'RPO', 'RTO', 'method', 'achieved', 'status'].map((x) => h('th', {}, x)),
            ),
            r.clusters.map((c) =>
              h(
                'tr',
                { 'data-cluster': c.name },
                h('td', {}, c.name),
                h('td', {}, c.host),
                ...pol(c.policy).map((x) => h('td', {}, x)),
                h('td', {}, achieved(c)),
                status(c.status),
              ),
            ),
          )
        : h('p', { class: 'muted' }, 'none'),
      h('h2', {}, 'Stateful services'),
      r.services.length
        ? h(
            'table',
            {},
            h(
              'tr',
              {},
              ['service', 'host', 'RPO', 'RTO', 'method', 'achieved', 'status'].map((x) => h('th', {}, x)),
            ),
            r.services.map((s) =>
              h(
                'tr',
                {},
                h('td', {}, s.id),
                h('td', {}, s.host || ''),
                ...pol(s.policy).map((x) => h('td', {}, x)),
                h('td', {}, achieved(s)),
                status(s.status),
              ),
            ),
          )
        : h('p', { class: 'muted' }, 'none'),
      h('h2', {}, 'If a host is lost'),
      h(
        'table',
        { id: 'backups-hosts' },
        h(
          'tr',
          {},
          ['host', 'data there', 'worst RPO', 'worst RTO', 'holds backups of'].map((x) => h('th', {}, x)),
        ),
        r.host_loss.map((x) =>
          h(
            'tr',
            { 'data-host': x.host },
            h('td', {}, x.host),
            h('td', {}, x.data.map((d) => d.name).join(', ')),
            h('td', {}, x.worst_rpo ?? '—'),
            h('td', {}, x.worst_rto ?? '—'),
            h('td', {}, x.holds_backups_of.join(', ')),
          ),
        ),
      ),
      r.missing.length
        ? h(
            'div',
            {},
            h('h2', {}, 'Without a backup policy'),
            h(
              'ul',
              {},
              r.missing.map((m) => h('li', { class: m.severity === 'error' ? 'bad' : 'warn' }, m.message)),
            ),
          )
        : '',
    );
  }

  // ---- the release ledger ------------------------------------------------------------------------
  // Per service of a promotion path: the release the ledger has live there, the record that put it
  // there and, for a promotion, its evidence; and whether the chain and its signatures verify.
  function renderLedger() {
    const r = data.ledger;
    const tab = $('#tab-ledger');
    const v = r.verification;
    const state = v.broken
      ? h('p', { id: 'ledger-state', class: 'bad' }, `✖ ${r.file} does not verify: ${v.broken.message}`)
      : v.pending > 0
        ? h('p', { id: 'ledger-state', class: 'bad' }, `✖ ${v.pending} promotion(s) not recorded yet: run manage-apps ledger verify --repair`)
        : h(
            'p',
            { id: 'ledger-state', class: 'ok' },
            `✔ ${r.file}: ${v.records} records, the chain holds, ${v.signatures.checked} approval signature(s) verify`,
          );
    const evidence = (e) => {
      if (!e) return [];
      const items = [];
      if (e.gate) items.push(`gate: passed in ${e.gate.env} (${e.gate.kind}, line ${e.gate.line})`);
      if (e.observation)
        items.push(
          `observed: ${e.observation.window_s ?? '?'}s, ${e.observation.samples ?? '?'} sample(s), ${e.observation.verdict ?? '?'} (line ${e.observation.line})${e.observation.override ? `; window overridden: ${e.observation.override}` : ''}`,
        );
      items.push(`drill: ${e.drill ?? 'not required'}`);
      items.push(
        e.approval
          ? `approved by ${e.approval.principal ?? '?'} ${e.approval.fingerprint ?? ''} (line ${e.approval.line})`
          : 'approval: not required',
      );
      if (e.forced) items.push(`forced: ${e.forced}`);
      if (e.recovered) items.push('recorded after a crash, from the host');
      return items;
    };
    tab.replaceChildren(
      state,
      r.services.length
        ? h(
            'table',
            { id: 'ledger-services' },
            h(
              'tr',
              {},
              ['service', 'env', 'release', 'put there by', 'evidence'].map((x) => h('th', {}, x)),
            ),
            r.services.map((s) =>
              h(
                'tr',
                { 'data-service': s.service },
                h('td', {}, s.service),
                h('td', {}, s.env),
                h('td', { class: 'release' }, s.release ?? '—'),
                h(
                  'td',
                  { class: 'because' },
                  s.kind === null
                    ? 'nothing recorded'
                    : `${s.kind}${s.evidence && s.evidence.from ? ` from ${s.evidence.from}` : ''}, line ${s.line}, ${s.time.replace('T', ' ').slice(0, 19)} UTC`,
                ),
                h(
                  'td',
                  {},
                  h(
                    'ul',
                    { class: 'evidence' },
                    evidence(s.evidence).map((x) => h('li', {}, x)),
                  ),
                ),
              ),
            ),
          )
        : h('p', { class: 'muted' }, 'no service on a promotion path'),
    );
  }

  // ---- problems -----------------------------------------------------------------------------------
  function renderProblems() {
    const problems = data.problems;
    const tab = $('#tab-problems');
    if (problems.length === 0) {
      tab.replaceChildren(h('p', { class: 'ok' }, '✔ no problem in the manifests or the inventory.'));
      return;
    }
    tab.replaceChildren(
      h('p', {}, `${problems.length} problem(s) (as `, h('code', {}, 'validate'), ' reports them):'),
      h(
        'ul',
        { id: 'problems' },
        problems.map((p) =>
          h(
            'li',
            {},
            h('span', { class: p.severity === 'error' ? 'bad' : 'warn' }, p.severity),
            ' ',
            h('span', { class: 'loc' }, `${p.file}:${p.line}:${p.column}`),
            ` [${p.rule}] ${p.message}`,
            p.hint ? h('div', { class: 'why' }, `hint: ${p.hint}`) : '',
          ),
        ),
      ),
    );
  }

  // ---- live status and actions -------------------------------------------------------------------
  const summary = $('#summary');
  let lastStatus = null;
  const KNOWN = new Set([
    'id',
    'project',
    'environment',
    'host',
    'unit',
    'supervisor',
    'state',
    'health',
    'healthy',
    'verdict',
    'reason',
    'kind',
    'port',
  ]);

  /** Status rounds received (tests count rounds, not seconds). */
  window.statusRounds = 0;
  function applyStatus(report) {
    lastStatus = report;
    window.statusRounds += 1;
    clearMarks('st-ok', 'st-bad', 'st-unreachable');
    for (const s of report.services || []) {
      const row = serviceRows.get(s.id);
      if (!row) continue;
      row.classList.add(s.healthy ? 'st-ok' : s.verdict === 'unreachable' ? 'st-unreachable' : 'st-bad');
      row.dataset.verdict = s.verdict;
      // An armed (or fired) revert of the last deploy: the host's dead-man switch, where status reports one.
      row.classList.toggle('st-revert', Boolean(s.revert));
      if (s.revert) row.dataset.revert = s.revert.state;
      else delete row.dataset.revert;
      // A compact row (a <tspan>) carries no tooltip: the Status tab lists its verdict.
      if (row.tagName !== 'g') continue;
      let title = row.querySelector('title');
      if (!title) {
        title = document.createElementNS(NS, 'title');
        row.prepend(title);
      }
      const revert = s.revert
        ? `; revert ${s.revert.state}${s.revert.release ? ` of ${s.revert.release}` : ''}${s.revert.deadline ? ` at ${s.revert.deadline}` : ''}`
        : '';
      title.textContent = `${s.id} on ${s.host}: ${s.verdict}${s.reason ? ` (${s.reason})` : ''}${revert}`;
    }
    const sum = report.summary || {};
    summary.replaceChildren(
      h('span', { class: sum.healthy === sum.services ? 'good' : 'bad', id: 'summary-counts' }, `${sum.healthy ?? 0}/${sum.services ?? 0} healthy`),
      sum.unreachable ? h('span', { class: 'bad' }, ` · ${sum.unreachable} on unreachable hosts`) : '',
      h('span', {}, ` · updated ${new Date().toLocaleTimeString()}`),
    );
    renderStatusTab();
  }

  function extras(s) {
    const rest = Object.entries(s).filter(([k, v]) => !KNOWN.has(k) && v !== null && v !== undefined);
    return rest.map(([k, v]) => `${k}: ${typeof v === 'object' ? JSON.stringify(v) : v}`).join('; ');
  }

  // ---- drift: the answer of `drift` (read-only, one ssh round trip per host), when asked -------------
  let lastDrift = null;
  async function checkDrift() {
    lastDrift = { pending: true };
    renderDriftTab();
    try {
      const res = await fetch('api/drift', { headers: { accept: 'application/json' } });
      const body = await res.json();
      lastDrift = res.ok ? body : { error: body.error || { message: `HTTP ${res.status}` } };
    } catch (error) {
      lastDrift = { error: { message: String(error) } };
    }
    renderDriftTab();
  }

  function renderDriftTab() {
    const tab = $('#tab-drift');
    if (!tab || tab.hidden) return;
    const r = lastDrift;
    const intro = h(
      'p',
      { class: 'hint' },
      'What the hosts run against what the repository declares: the answer of ',
      h('code', {}, 'drift'),
      ' (read-only, one ssh round trip per host). ',
      h(
        'button',
        { id: 'drift-check', onclick: () => checkDrift(), disabled: r && r.pending ? '' : null },
        r && r.pending ? 'checking…' : 'check now',
      ),
    );
    if (!r) return tab.replaceChildren(intro);
    if (r.pending) return tab.replaceChildren(intro, h('p', { class: 'muted' }, 'reading the hosts…'));
    if (r.error) return tab.replaceChildren(intro, h('p', { class: 'bad' }, `drift failed: ${r.error.message}`));
    const rows = (r.findings || []).map((f) =>
      h(
        'tr',
        { 'data-finding': f.id },
        h('td', {}, f.host),
        h('td', { class: f.verdict === 'extra' || f.verdict === 'changed' ? 'warn' : 'bad' }, f.verdict),
        h('td', {}, f.subject),
        h('td', {}, f.owner || ''),
        h('td', { class: 'muted' }, f.detail),
      ),
    );
    tab.replaceChildren(
      intro,
      rows.length === 0
        ? h('p', { class: 'ok', id: 'drift-none' }, `No drift on ${(r.hosts || []).length} hosts.`)
        : h(
            'table',
            { id: 'drift-table' },
            h(
              'tr',
              {},
              ['host', 'verdict', 'what', 'whose', 'why'].map((x) => h('th', {}, x)),
            ),
            rows,
          ),
    );
  }

  function renderStatusTab() {
    const tab = $('#tab-status');
    // Built while shown (each round) and when shown: a hidden table of every service is wasted work.
    if (!tab || tab.hidden) return;
    const r = lastStatus;
    if (!r) {
      tab.replaceChildren(h('p', { class: 'muted' }, 'waiting for the first status round…'));
      return;
    }
    if (r.error) {
      tab.replaceChildren(h('p', { class: 'bad' }, `status failed: ${r.error.message}`));
      return;
    }
    const actions = data.live && data.live.allowActions;
    const rows = (r.services || []).map((s) =>
      h(
        'tr',
        { 'data-service': s.id },
        h('td', {}, s.host),
        h('td', {}, s.id),
        h('td', { class: s.healthy ? 'ok' : 'bad' }, s.verdict + (s.reason ? `: ${s.reason}` : '')),
        h('td', {}, s.state ? `${s.state.active} (${s.state.sub})` : ''),
        h('td', { class: 'muted' }, extras(s)),
        actions
          ? h(
              'td',
              {},
              ['restart', 'deploy', 'rollback'].map((verb) => h('button', { class: 'act', 'data-verb': verb, onclick: () => act(verb, s.id) }, verb)),
            )
          : null,
      ),
    );
    tab.replaceChildren(
      h(
        'p',
        { class: 'hint' },
        `The answer of `,
        h('code', {}, 'status'),
        ` (one ssh round trip per host), every ${data.live.interval} s.`,
        actions ? ' Actions run the CLI verbs, after you confirm.' : ' Read-only: start `ui --allow-actions` for restart, deploy and rollback.',
      ),
      h(
        'table',
        { id: 'status-table' },
        h(
          'tr',
          {},
          ['host', 'service', 'verdict', 'state', 'release / other', actions ? 'actions' : null].filter(Boolean).map((x) => h('th', {}, x)),
        ),
        rows,
      ),
      ...(r.hosts || []).filter((x) => !x.reachable).map((x) => h('p', { class: 'bad' }, `✖ ${x.host} unreachable: ${x.reason}`)),
      actionResult,
    );
  }

  // Kept across the status table's rebuilds: the last action's answer stays until the next action.
  const actionResult = h('div', { id: 'action-result' });
  async function act(verb, target) {
    if (!window.confirm(`${verb} ${target}? This runs \`manage-apps ${verb} ${target}\` on the fleet.`)) return;
    actionResult.replaceChildren(h('p', { class: 'muted' }, `${verb} ${target}…`));
    const res = await fetch('api/action', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-csrf-token': data.live.csrf },
      body: JSON.stringify({ verb, target }),
    });
    const body = await res.json().catch(() => ({}));
    actionResult.replaceChildren(
      h('h2', {}, `${verb} ${target}: exit ${body.exit_code ?? res.status}`),
      h('pre', {}, JSON.stringify(body.error || body.result || body, null, 1).slice(0, 4000)),
    );
  }

  if (live) {
    summary.textContent = 'status: connecting…';
    const events = new EventSource('events');
    events.addEventListener('status', (e) => applyStatus(JSON.parse(e.data)));
    events.addEventListener('status-error', (e) => {
      lastStatus = JSON.parse(e.data);
      summary.replaceChildren(h('span', { class: 'bad' }, `status failed: ${lastStatus.error.message}`));
      renderStatusTab();
    });
    events.onerror = () => summary.replaceChildren(h('span', { class: 'bad' }, 'disconnected from the dashboard server'));
    renderStatusTab();
  } else {
    summary.textContent = `static picture, ${data.generated_at.replace('T', ' ').slice(0, 16)} UTC · ${data.fleet.hosts.length} hosts, ${data.fleet.services} services`;
  }

  renderWhatIfIntro();
  firstShow.backups = renderBackups;
  firstShow.problems = renderProblems;
  if (data.ledger) firstShow.ledger = renderLedger;
  // Sized while still hidden (the canvas's size does not depend on it), then shown: one layout.
  if (W > $('#canvas').clientWidth * 1.5) fit();
  document.documentElement.classList.remove('loading');
  document.documentElement.dataset.ready = '1';
  window.dashboardReadyAt = performance.now();
})();
