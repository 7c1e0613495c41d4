// Messages to the person (the alert strip) and the meta dialog.

const MAX_ALERTS = 5;
const alertsEl = document.getElementById('alerts');

export function showAlert(text, kind = 'error') {
  const el = document.createElement('div');
  el.className = `alert ${kind}`;
  const span = document.createElement('span');
  span.className = 'alert-text';
  span.textContent = text;
  const close = document.createElement('button');
  close.type = 'button';
  close.textContent = '×';
  close.setAttribute('aria-label', 'Dismiss');
  close.addEventListener('click', () => el.remove());
  el.append(span, close);
  alertsEl.prepend(el);
  while (alertsEl.children.length > MAX_ALERTS) alertsEl.lastElementChild.remove();
  // Successes fade on their own; failures stay until the person dismisses them.
  if (kind !== 'error') setTimeout(() => el.remove(), 5000);
}

// A task's meta, on demand: the dialog follows the task while it is open.
export function createMetaDialog(store) {
  const dialog = document.getElementById('meta-dialog');
  const title = document.getElementById('meta-title');
  const pre = document.getElementById('meta-pre');
  let taskId = null;

  function draw() {
    const e = store.get(taskId);
    title.textContent = `meta of ${taskId}`;
    pre.textContent = e ? JSON.stringify(e.task.meta || {}, null, 2) : '(this task has been removed)';
  }

  dialog.addEventListener('close', () => { taskId = null; });

  return {
    open(id) {
      taskId = id;
      draw();
      if (!dialog.open) dialog.showModal();
    },
    // Once per frame, after the store applied its changes.
    refresh() {
      if (taskId !== null && (store.isChanged(taskId) || !store.has(taskId))) draw();
    },
  };
}
