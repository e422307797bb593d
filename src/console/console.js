// The tenant console: a page over the controller's /v1 API and nothing else (no second source of
// truth). Plain ES module, no build step. The API token lives in this module's memory only and is
// sent as an Authorization header (never a cookie), so no other site can make requests with it.
// Everything shown is put in the page as text (textContent), never as HTML.

const POLL_MS = 2000;
const CLUSTER_FIELDS = [
  { key: 'jobManager.cpu', label: 'JobManager CPUs', whole: false },
  { key: 'jobManager.memoryMb', label: 'JobManager memory (MB)', whole: true },
  { key: 'taskManager.cpu', label: 'TaskManager CPUs', whole: false },
  { key: 'taskManager.memoryMb', label: 'TaskManager memory (MB)', whole: true },
  { key: 'taskManager.instances', label: 'TaskManagers', whole: true },
];

const state = {
  token: null,
  platform: null,
  tenants: [],
  selected: null,
  view: null,
  /** null, or 'deploy' / 'change' while the cluster form is open. */
  form: null,
  confirmingDestroy: false,
  message: '',
  preview: { key: null, text: null },
  traffic: { previous: null, latest: null, error: null },
  timer: null,
  refreshing: false,
};

/** Builds an element: attributes (on* as listeners), then children (strings become text nodes). */
function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on')) element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat())
    if (child !== null && child !== undefined && child !== false) element.append(child instanceof Node ? child : String(child));
  return element;
}

const byId = (id) => document.getElementById(id);
const fieldId = (key) => key.replace('.', '-');

class ApiError extends Error {
  constructor(status, body) {
    super(body?.error ?? `HTTP ${status}`);
    this.status = status;
    this.problems = body?.problems ?? [body?.error ?? `HTTP ${status}`];
  }
}

async function api(method, path, body) {
  const response = await fetch(path, {
    method,
    credentials: 'omit',
    cache: 'no-store',
    headers: { authorization: `Bearer ${state.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const payload = await response.json().catch(() => ({}));
  if (response.status === 401) {
    logout('The controller refused the token.');
    throw new ApiError(401, payload);
  }
  if (!response.ok) throw new ApiError(response.status, payload);
  return payload;
}

// ---- login ----------------------------------------------------------------------------------

function showLogin(problem = '') {
  stopPolling();
  Object.assign(state, { token: null, selected: null, view: null, form: null, confirmingDestroy: false });
  byId('logout').hidden = true;
  const form = h(
    'form',
    { id: 'login', class: 'card narrow', novalidate: true, onsubmit: login },
    h('h2', {}, 'Log in'),
    h('p', {}, "The controller's API token (", h('code', {}, 'controller.http.token'), "). It stays in this page's memory only."),
    h('label', { for: 'token' }, 'API token'),
    h('input', { id: 'token', name: 'token', type: 'password', autocomplete: 'off', required: true }),
    h('p', { class: 'problem', id: 'login-problem', role: 'alert' }, problem),
    h('button', { type: 'submit' }, 'Log in'),
  );
  byId('app').replaceChildren(form);
}

async function login(event) {
  event.preventDefault();
  state.token = byId('token').value.trim();
  try {
    state.platform = await api('GET', '/v1/platform');
    state.tenants = await api('GET', '/v1/tenants');
  } catch (error) {
    if (error.status !== 401) showLogin(error.problems.join('; '));
    return;
  }
  byId('logout').hidden = false;
  showConsole();
}

function logout(problem = '') {
  showLogin(problem);
}

// ---- layout ---------------------------------------------------------------------------------

function showConsole() {
  byId('app').replaceChildren(
    h('nav', { class: 'card', 'aria-label': 'Tenants' }, h('h2', {}, 'Tenants'), h('ul', { id: 'tenant-list' }), tenantCreateForm()),
    h(
      'div',
      { class: 'tenant' },
      h('p', { class: 'problem', id: 'banner', role: 'status' }),
      h('section', { id: 'tenant', 'aria-live': 'polite' }, h('p', { class: 'card' }, 'Pick a tenant.')),
    ),
  );
  renderTenantList();
  if (state.tenants.length > 0) selectTenant(state.tenants[0].tenant);
  startPolling();
}

function renderTenantList() {
  const list = byId('tenant-list');
  if (list === null) return;
  list.replaceChildren(
    ...state.tenants.map((tenant) =>
      h(
        'li',
        {},
        h(
          'button',
          {
            type: 'button',
            'data-tenant': tenant.tenant,
            'aria-current': tenant.tenant === state.selected ? 'true' : 'false',
            onclick: () => selectTenant(tenant.tenant),
          },
          h('span', {}, tenant.tenant),
          h(
            'span',
            { class: 'hint' },
            `${tenant.flinkVersion === null ? 'no cluster' : `Flink ${tenant.flinkVersion}`}${state.platform.ensembles.length > 1 ? `, ${tenant.ensemble}` : ''}`,
          ),
        ),
      ),
    ),
  );
  if (state.tenants.length === 0) list.replaceChildren(h('li', { class: 'hint' }, 'No tenants yet.'));
}

function tenantCreateForm() {
  const submit = async (event) => {
    event.preventDefault();
    const name = byId('new-tenant').value.trim();
    const listener = byId('new-listener').value.trim();
    const ensemble = byId('new-ensemble')?.value ?? '';
    byId('new-tenant-problem').textContent = '';
    try {
      await api('POST', '/v1/tenants', { name, ...(listener === '' ? {} : { listener }), ...(ensemble === '' ? {} : { ensemble }) });
      byId('new-tenant').value = '';
      byId('new-listener').value = '';
      if (byId('new-ensemble') !== null) byId('new-ensemble').value = '';
      await refresh();
      selectTenant(name);
    } catch (error) {
      byId('new-tenant-problem').textContent = error.problems.join('; ');
    }
  };
  return h(
    'form',
    { id: 'tenant-create', novalidate: true, onsubmit: submit },
    h('h3', {}, '+ Tenant'),
    h('label', { for: 'new-tenant' }, 'Name'),
    h('input', { id: 'new-tenant', autocomplete: 'off', placeholder: 'acme' }),
    h('label', { for: 'new-listener' }, 'Proxy listener (optional)'),
    h('input', { id: 'new-listener', autocomplete: 'off', placeholder: 'host:port (default: next free port)' }),
    // One ensemble: nothing to choose.
    state.platform.ensembles.length > 1
      ? [
          h('label', { for: 'new-ensemble' }, 'Ensemble'),
          h(
            'select',
            { id: 'new-ensemble' },
            h('option', { value: '' }, 'automatic (most headroom)'),
            ...state.platform.ensembles.map((ensemble) => h('option', { value: ensemble }, ensemble)),
          ),
        ]
      : '',
    h('p', { class: 'problem', id: 'new-tenant-problem', role: 'alert' }),
    h('button', { type: 'submit', class: 'secondary' }, 'Create tenant'),
  );
}

async function selectTenant(name) {
  Object.assign(state, {
    selected: name,
    view: null,
    form: null,
    confirmingDestroy: false,
    message: '',
    traffic: { previous: null, latest: null, error: null },
  });
  renderTenantList();
  byId('tenant').replaceChildren(h('div', { id: 'status' }), h('div', { id: 'traffic' }), h('div', { id: 'cluster' }));
  await refresh();
}

// ---- polling --------------------------------------------------------------------------------

function startPolling() {
  stopPolling();
  state.timer = setInterval(() => void refresh().catch(() => {}), POLL_MS);
}

function stopPolling() {
  if (state.timer !== null) clearInterval(state.timer);
  state.timer = null;
}

async function refresh() {
  // A slow controller must not pile up polls: one refresh at a time.
  if (state.token === null || state.refreshing) return;
  state.refreshing = true;
  try {
    await refreshOnce();
    showBanner('');
  } catch (error) {
    if (error.status !== 401) showBanner(`The controller did not answer: ${error.problems.join('; ')}`);
  } finally {
    state.refreshing = false;
  }
}

function showBanner(text) {
  const banner = byId('banner');
  if (banner !== null) banner.textContent = text;
}

async function refreshOnce() {
  try {
    state.tenants = await api('GET', '/v1/tenants');
    renderTenantList();
    if (state.selected === null) return;
    const view = await api('GET', `/v1/tenants/${encodeURIComponent(state.selected)}`);
    if (view.tenant !== state.selected) return;
    state.view = view;
    if (view.reconcile.converged && state.message.endsWith('converging.')) state.message = '';
    if (state.platform.traffic) await readTraffic(view.tenant);
    await readPreview(view);
    renderTenant();
  } catch (error) {
    if (error.status !== 404 || state.selected === null) throw error;
    state.selected = null;
    byId('tenant')?.replaceChildren(h('p', { class: 'card' }, 'That tenant no longer exists.'));
  }
}

async function readTraffic(tenant) {
  try {
    const sample = await api('GET', `/v1/tenants/${encodeURIComponent(tenant)}/traffic`);
    state.traffic = { previous: state.traffic.latest, latest: sample, error: null };
  } catch (error) {
    state.traffic.error = error.problems.join('; ');
  }
}

/** The rendered Flink configuration of the desired cluster, from the API's dry run (nothing is applied). */
async function readPreview(view) {
  const desired = view.cluster.desired;
  const key = desired === null ? null : JSON.stringify(desired);
  if (key === state.preview.key) return;
  state.preview = { key, text: null };
  if (desired === null) return;
  try {
    const preview = await api('PUT', `/v1/tenants/${encodeURIComponent(view.tenant)}/cluster?dryRun=true`, desired);
    state.preview = { key, text: preview.flinkConfig };
  } catch (error) {
    state.preview = { key, text: { jobManager: error.problems.join('\n'), taskManager: '' } };
  }
}

// ---- the tenant's page ----------------------------------------------------------------------

/** Redraws a card only when what it shows changed, so that a poll does not replace a button under the pointer. */
function redraw(id, inputs, build) {
  const container = byId(id);
  const key = JSON.stringify(inputs);
  if (container.dataset.key === key) return;
  container.dataset.key = key;
  container.replaceChildren(build());
}

function renderTenant() {
  const view = state.view;
  if (view === null || byId('status') === null) return;
  redraw('status', [view, state.message], () => statusCard(view));
  if (state.platform.traffic) redraw('traffic', state.traffic, trafficCard);
  // The open form keeps what the user typed: only the other states are redrawn.
  if (state.form === null)
    redraw('cluster', [view.tenant, view.cluster.desired, state.confirmingDestroy, state.preview], () => clusterCard(view));
}

function reconcileBadge(view) {
  if (view.reconcile.error) return h('span', { class: 'badge bad', id: 'converged' }, 'error');
  return view.reconcile.converged
    ? h('span', { class: 'badge good', id: 'converged' }, 'converged')
    : h('span', { class: 'badge bad', id: 'converged' }, 'converging');
}

function specText(spec) {
  if (spec === null) return 'none';
  return (
    `Flink ${spec.flinkVersion}, zone ${spec.zone}; JobManager ${spec.jobManager.cpu} CPU / ${spec.jobManager.memoryMb} MB; ` +
    `${spec.taskManager.instances} x TaskManager ${spec.taskManager.cpu} CPU / ${spec.taskManager.memoryMb} MB`
  );
}

/** The bar's fill; set through the DOM, as the Content-Security-Policy refuses inline style attributes. */
function fillTo(fraction) {
  const fill = h('div');
  fill.style.width = `${(fraction * 100).toFixed(1)}%`;
  return fill;
}

function usageBar(id, label, usage, unit) {
  const used = usage.used ?? 0;
  const fraction = usage.limit > 0 ? Math.min(1, used / usage.limit) : 0;
  return [
    h('dt', {}, label),
    h(
      'dd',
      {},
      h(
        'span',
        { id: `${id}-text` },
        `${usage.used === null ? '?' : used.toLocaleString('en')} of ${usage.limit.toLocaleString('en')} ${unit}`,
      ),
      h(
        'div',
        {
          class: fraction > 0.8 ? 'bar high' : 'bar',
          id,
          role: 'meter',
          'aria-label': label,
          'aria-valuemin': 0,
          'aria-valuemax': usage.limit,
          'aria-valuenow': used,
        },
        fillTo(fraction),
      ),
    ),
  ];
}

function statusCard(view) {
  const { cluster, zookeeper, reconcile } = view;
  return h(
    'div',
    { class: 'card' },
    h('h2', {}, `Tenant ${view.tenant} `, reconcileBadge(view)),
    state.message ? h('p', { id: 'message' }, state.message) : '',
    h(
      'dl',
      {},
      h('dt', {}, 'Proxy address (ZooKeeper for Flink HA)'),
      h('dd', { id: 'proxy-address' }, cluster.zookeeperAddress),
      h('dt', {}, 'Listener'),
      h('dd', {}, view.listener),
      h('dt', {}, 'Ensemble'),
      h('dd', { id: 'ensemble' }, view.ensemble),
      h('dt', {}, 'Chroot'),
      h('dd', {}, view.chroot),
      h('dt', {}, 'Namespace'),
      h('dd', {}, cluster.namespace),
      h('dt', {}, 'Bucket'),
      h('dd', { id: 'bucket' }, cluster.bucket),
      h('dt', {}, 'Flink UI'),
      h(
        'dd',
        { id: 'ui' },
        cluster.ui === null
          ? 'none (no cluster)'
          : h('a', { href: cluster.ui, target: '_blank', rel: 'noopener noreferrer' }, `Flink UI: ${cluster.ui}`),
      ),
      h('dt', {}, 'Applied'),
      h('dd', { id: 'applied' }, specText(cluster.applied)),
      ...usageBar('znodes', 'ZooKeeper znodes', zookeeper.znodes, 'znodes'),
      ...usageBar('bytes', 'ZooKeeper bytes', zookeeper.bytes, 'bytes'),
      h('dt', {}, 'Reconciled'),
      h(
        'dd',
        {},
        `generation ${reconcile.generation}, observed ${reconcile.observedGeneration ?? '-'}${reconcile.reconciledBy ? ` by ${reconcile.reconciledBy}` : ''}`,
      ),
      reconcile.error ? [h('dt', {}, 'Last error'), h('dd', { class: 'problem', id: 'reconcile-error' }, reconcile.error)] : '',
    ),
  );
}

function trafficCard() {
  const { previous, latest, error } = state.traffic;
  const rate = (key) => {
    if (previous === null || latest === null || latest.at <= previous.at) return 'measuring';
    return `${(Math.max(0, latest[key] - previous[key]) / ((latest.at - previous.at) / 1000)).toFixed(1)}/s`;
  };
  const down = latest?.sources.filter((s) => !s.ok) ?? [];
  return h(
    'div',
    { class: 'card', id: 'traffic-card' },
    h('h3', {}, "Live traffic (from the proxies' metrics)"),
    latest === null
      ? h('p', { class: 'hint' }, error ?? 'reading')
      : h(
          'dl',
          {},
          h('dt', {}, 'Requests'),
          h('dd', { id: 'traffic-requests', 'data-total': latest.requests }, `${rate('requests')} (${latest.requests} in total)`),
          h('dt', {}, 'Reply errors'),
          h('dd', { id: 'traffic-errors', 'data-total': latest.errors }, `${rate('errors')} (${latest.errors} in total)`),
          h('dt', {}, 'Refused by the proxy'),
          h('dd', { id: 'traffic-refused', 'data-total': latest.refused }, `${rate('refused')} (${latest.refused} in total)`),
          down.length > 0
            ? [h('dt', {}, 'Not answering'), h('dd', { class: 'problem' }, down.map((s) => `${s.address}: ${s.error}`).join('; '))]
            : '',
        ),
  );
}

function clusterCard(view) {
  const desired = view.cluster.desired;
  if (desired === null) {
    return h(
      'div',
      { class: 'card' },
      h('h2', {}, 'Flink cluster'),
      h('p', {}, "No Flink cluster. The tenant's ZooKeeper state and bucket are kept: a new cluster finds its jobs again."),
      h('button', { type: 'button', id: 'add-cluster', onclick: () => openForm('deploy') }, '+ Flink Cluster'),
    );
  }
  const preview = state.preview.text;
  return h(
    'div',
    { class: 'card' },
    h('h2', {}, 'Flink cluster'),
    h('p', { id: 'desired' }, specText(desired)),
    h(
      'div',
      { class: 'row' },
      h('button', { type: 'button', id: 'change-cluster', class: 'secondary', onclick: () => openForm('change') }, 'Change Flink Cluster'),
      h('button', { type: 'button', id: 'destroy-cluster', class: 'danger', onclick: () => confirmDestroy(true) }, 'Destroy Flink Cluster'),
    ),
    state.confirmingDestroy
      ? h(
          'div',
          { class: 'confirm', id: 'confirm-destroy', role: 'alertdialog', 'aria-label': 'Confirm destroy' },
          h(
            'p',
            {},
            `Destroy the Flink cluster of ${view.tenant}? Its JobManager, TaskManagers and UI go. The ZooKeeper state (jobs, checkpoints), the bucket and the job volume stay for the next deploy.`,
          ),
          h(
            'div',
            { class: 'row' },
            h('button', { type: 'button', class: 'danger', id: 'yes-destroy', onclick: destroy }, 'Yes, destroy'),
            h('button', { type: 'button', class: 'secondary', id: 'cancel-destroy', onclick: () => confirmDestroy(false) }, 'Cancel'),
          ),
        )
      : '',
    h(
      'details',
      { open: true },
      h('summary', {}, "Rendered Flink configuration (the platform's fixed settings)"),
      h('h3', {}, 'JobManager flink-conf.yaml'),
      h('pre', { id: 'flink-conf-jobmanager' }, preview?.jobManager ?? 'rendering'),
      h('h3', {}, 'TaskManager flink-conf.yaml'),
      h('pre', { id: 'flink-conf-taskmanager' }, preview?.taskManager ?? 'rendering'),
    ),
  );
}

function confirmDestroy(asking) {
  state.confirmingDestroy = asking;
  renderTenant();
}

async function destroy() {
  const tenant = state.selected;
  try {
    await api('DELETE', `/v1/tenants/${encodeURIComponent(tenant)}/cluster`);
    state.confirmingDestroy = false;
    state.message = 'Destroy recorded; the controller is converging.';
  } catch (error) {
    state.message = `Destroy refused: ${error.problems.join('; ')}`;
  }
  await refresh();
}

// ---- the cluster form -----------------------------------------------------------------------

function read(object, key) {
  return key.split('.').reduce((value, part) => value?.[part], object);
}

/** The same rules and messages as the API (src/controller/spec.ts), shown while typing. */
function fieldProblem(field, text) {
  const trimmed = text.trim();
  if (trimmed === '') return undefined; // the default applies
  const value = Number(trimmed);
  if (!Number.isFinite(value)) return `${field.key} ${JSON.stringify(trimmed)} is not a number`;
  if (field.whole && !Number.isInteger(value)) return `${field.key} ${value} is not a whole number`;
  const minimum = read(state.platform.minimums, field.key);
  if (value < minimum) return `${field.key} ${value} is below the minimum ${minimum}`;
  return undefined;
}

function openForm(mode) {
  state.form = mode;
  state.confirmingDestroy = false;
  const { platform } = state;
  const current = state.view.cluster.desired;
  const initial = (key) => read(current ?? platform.defaults, key);
  const problemSlot = (key) => h('p', { class: 'problem', id: `${fieldId(key)}-problem`, role: 'alert' });
  const zoneList =
    platform.zones.length > 0 ? h('datalist', { id: 'zones' }, ...platform.zones.map((zone) => h('option', { value: zone }))) : '';
  const form = h(
    'form',
    { class: 'card', id: 'cluster-form', novalidate: true, onsubmit: submitForm, oninput: checkForm },
    h('h2', {}, mode === 'deploy' ? 'New Flink cluster' : 'Change the Flink cluster'),
    h(
      'div',
      { class: 'grid' },
      h(
        'div',
        {},
        h('label', { for: 'flinkVersion' }, 'Flink version'),
        h(
          'select',
          { id: 'flinkVersion', 'aria-describedby': 'flinkVersion-problem' },
          ...platform.flinkVersions.map((version) =>
            h('option', { value: version, selected: version === (current?.flinkVersion ?? platform.flinkVersions.at(-1)) }, version),
          ),
        ),
        problemSlot('flinkVersion'),
      ),
      h(
        'div',
        {},
        h('label', { for: 'zone' }, 'Zone'),
        h('input', {
          id: 'zone',
          value: current?.zone ?? platform.defaultZone,
          list: platform.zones.length > 0 ? 'zones' : undefined,
          'aria-describedby': 'zone-problem zone-hint',
        }),
        zoneList,
        h(
          'span',
          { class: 'hint', id: 'zone-hint' },
          platform.zones.length > 0 ? `one of ${platform.zones.join(', ')}` : `default ${platform.defaultZone}`,
        ),
        problemSlot('zone'),
      ),
      ...CLUSTER_FIELDS.map((field) =>
        h(
          'div',
          {},
          h('label', { for: fieldId(field.key) }, field.label),
          h('input', {
            id: fieldId(field.key),
            'data-field': field.key,
            inputmode: 'decimal',
            value: initial(field.key),
            'aria-describedby': `${fieldId(field.key)}-problem ${fieldId(field.key)}-hint`,
          }),
          h(
            'span',
            { class: 'hint', id: `${fieldId(field.key)}-hint` },
            `default ${read(platform.defaults, field.key)}, minimum ${read(platform.minimums, field.key)}`,
          ),
          problemSlot(field.key),
        ),
      ),
    ),
    h('p', { class: 'problem', id: 'form-problem', role: 'alert' }),
    h(
      'div',
      { class: 'row' },
      h('button', { type: 'submit', id: 'deploy-cluster' }, mode === 'deploy' ? 'Deploy Flink Cluster' : 'Apply changes'),
      h('button', { type: 'button', class: 'secondary', onclick: closeForm }, 'Cancel'),
    ),
  );
  byId('cluster').dataset.key = '';
  byId('cluster').replaceChildren(form);
  checkForm();
}

function closeForm() {
  state.form = null;
  renderTenant();
}

function showProblem(key, message) {
  const slot = byId(`${fieldId(key)}-problem`);
  slot.textContent = message ?? '';
  byId(fieldId(key))?.setAttribute('aria-invalid', message === undefined ? 'false' : 'true');
}

/** Minimums enforced in the page: a field below its minimum says so and the form cannot be sent. */
function checkForm() {
  let blocked = false;
  for (const field of CLUSTER_FIELDS) {
    const problem = fieldProblem(field, byId(fieldId(field.key)).value);
    showProblem(field.key, problem);
    blocked ||= problem !== undefined;
  }
  showProblem('flinkVersion', undefined);
  showProblem('zone', undefined);
  byId('form-problem').textContent = '';
  byId('deploy-cluster').disabled = blocked;
  return !blocked;
}

function formRequest() {
  const request = { flinkVersion: byId('flinkVersion').value, jobManager: {}, taskManager: {} };
  const zone = byId('zone').value.trim();
  if (zone !== '') request.zone = zone;
  for (const field of CLUSTER_FIELDS) {
    const text = byId(fieldId(field.key)).value.trim();
    if (text === '') continue;
    const [section, name] = field.key.split('.');
    request[section][name] = Number(text);
  }
  return request;
}

/** The API's problems next to the field each names; the rest under the form. */
function showApiProblems(problems) {
  const general = [];
  const keys = ['flinkVersion', 'zone', ...CLUSTER_FIELDS.map((f) => f.key)];
  for (const problem of problems) {
    const key = keys.find((k) => problem.startsWith(`${k} `));
    if (key === undefined) general.push(problem);
    else showProblem(key, [byId(`${fieldId(key)}-problem`).textContent, problem].filter(Boolean).join('; '));
  }
  byId('form-problem').textContent = general.join('; ');
}

async function submitForm(event) {
  event.preventDefault();
  if (!checkForm()) return;
  const tenant = state.selected;
  try {
    await api('PUT', `/v1/tenants/${encodeURIComponent(tenant)}/cluster`, formRequest());
  } catch (error) {
    showApiProblems(error.problems);
    return;
  }
  state.form = null;
  state.message = 'Deploy recorded; the controller is converging.';
  await refresh();
}

byId('logout').addEventListener('click', () => logout());
showLogin();
