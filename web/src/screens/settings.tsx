// Notification preferences and webhooks (the notifier's endpoints, issue 6); the password (issue 12); the callback
// signing secret and the callbacks' delivery log (an upload's `callback_url`, issue 12).
import { useEffect, useRef, useState } from "preact/hooks";
import { type ApiClient, ApiError, unwrap } from "../api/client";
import type { CallbackSecret, Delivery, DeliveryList, NotificationPreferences, Webhook } from "../api/contract";
import { Alert, LoadedList, PageHeading, Spinner, useAction } from "../components";
import { errorText } from "../errors";
import { type MessageKey, useI18n } from "../i18n";

const PREFERENCES: (keyof NotificationPreferences)[] = ["email_on_failure", "email_on_completion", "webhook_on_completion"];


export function Settings({ api }: { api: ApiClient }) {
  const { t } = useI18n();
  return (
    <>
      <PageHeading>{t("settings.title")}</PageHeading>
      <Preferences api={api} />
      <Webhooks api={api} />
      <CallbackSecretSection api={api} />
      <CallbackDeliveries api={api} />
      <PasswordForm api={api} />
    </>
  );
}

type PasswordField = "current" | "new" | "confirm";

/**
 * Changes the password (POST /me/password): 204, the other sessions are ended and this one stays signed in. A wrong
 * current password (401 `invalid_credentials`), a refused new one (422 `weak_password` or a 400, the server says
 * why) and a mismatched confirmation point at their field (aria-invalid, the focus, the message as its
 * description).
 */
export function PasswordForm({ api }: { api: ApiClient }) {
  const { t } = useI18n();
  const [values, setValues] = useState<Record<PasswordField, string>>({ current: "", new: "", confirm: "" });
  const [error, setError] = useState<{ field?: PasswordField; text: string } | null>(null);
  const [done, setDone] = useState(false);
  const [busy, setBusy] = useState(false);
  const refs = { current: useRef<HTMLInputElement>(null), new: useRef<HTMLInputElement>(null), confirm: useRef<HTMLInputElement>(null) };

  useEffect(() => {
    if (error?.field) refs[error.field].current?.focus();
  }, [error]);

  const submit = async (event: Event) => {
    event.preventDefault();
    setDone(false);
    if (values.new !== values.confirm) {
      setError({ field: "confirm", text: t("settings.passwordMismatch") });
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await unwrap(
        api.POST("/api/v1/me/password", { body: { current_password: values.current, new_password: values.new } }),
      );
      setValues({ current: "", new: "", confirm: "" });
      setDone(true);
    } catch (e) {
      if (e instanceof ApiError && e.code === "invalid_credentials") {
        setError({ field: "current", text: t("settings.passwordWrong") });
      } else if (e instanceof ApiError && (e.code === "weak_password" || e.status === 400 || e.status === 422)) {
        // The policy's refusal (422 `weak_password`), or the body refused as it is (400, e.g. over the length
        // limit): either way about the new password, which is what the user can change.
        setError({ field: "new", text: t("settings.passwordWeak", { message: e.message || e.code }) });
      } else {
        setError({ text: errorText(t, e) });
      }
    } finally {
      setBusy(false);
    }
  };

  const field = (name: PasswordField, label: MessageKey, autocomplete: string, hint?: MessageKey) => {
    const wrong = error?.field === name;
    const described = [hint ? `password-${name}-hint` : "", wrong ? "password-error" : ""].filter(Boolean).join(" ");
    return (
      <div>
        <label for={`password-${name}`}>{t(label)}</label>
        <input
          id={`password-${name}`}
          ref={refs[name]}
          type="password"
          required
          autocomplete={autocomplete}
          maxLength={1024}
          value={values[name]}
          aria-invalid={wrong}
          aria-describedby={described || undefined}
          onInput={(e) => setValues({ ...values, [name]: e.currentTarget.value })}
        />
        {hint && (
          <p id={`password-${name}-hint`} class="hint">
            {t(hint)}
          </p>
        )}
      </div>
    );
  };

  return (
    <section class="card" aria-labelledby="password-title">
      <h2 id="password-title">{t("settings.password")}</h2>
      {error && (
        <Alert>
          <span id="password-error">{error.text}</span>
        </Alert>
      )}
      {done && <Alert kind="info">{t("settings.passwordChanged")}</Alert>}
      <form class="password-form" onSubmit={submit}>
        {field("current", "settings.passwordCurrent", "current-password")}
        {field("new", "settings.passwordNew", "new-password", "settings.passwordHint")}
        {field("confirm", "settings.passwordConfirm", "new-password")}
        <button type="submit" class="primary" disabled={busy}>
          {t("settings.passwordSubmit")}
        </button>
      </form>
    </section>
  );
}

function Preferences({ api }: { api: ApiClient }) {
  const { t } = useI18n();
  const [prefs, setPrefs] = useState<NotificationPreferences | null>(null);
  const [saved, setSaved] = useState(false);
  const { busy, error, setError, run } = useAction();

  useEffect(() => {
    unwrap(api.GET("/api/v1/me/notifications")).then(setPrefs, (e: unknown) => setError(errorText(t, e)));
  }, [api]);

  const save = async (event: Event) => {
    event.preventDefault();
    if (!prefs) return;
    setSaved(false);
    await run(async () => {
      setPrefs(await unwrap(api.PUT("/api/v1/me/notifications", { body: prefs })));
      setSaved(true);
    });
  };

  return (
    <section class="card" aria-labelledby="prefs-title">
      <h2 id="prefs-title">{t("settings.notifications")}</h2>
      {error && <Alert>{error}</Alert>}
      {!prefs && !error && <Spinner label={t("settings.loading")} />}
      {prefs && (
        <form onSubmit={save}>
          {PREFERENCES.map((name) => (
            <div class="check" key={name}>
              <input
                id={`pref-${name}`}
                type="checkbox"
                checked={prefs[name]}
                onChange={(e) => setPrefs({ ...prefs, [name]: e.currentTarget.checked })}
              />
              <label for={`pref-${name}`}>{t(`settings.${name}` as MessageKey)}</label>
            </div>
          ))}
          <button type="submit" class="primary" disabled={busy}>
            {t("settings.save")}
          </button>
          {saved && (
            <span role="status" class="muted">
              {" "}
              {t("settings.saved")}
            </span>
          )}
        </form>
      )}
    </section>
  );
}

export function Webhooks({ api }: { api: ApiClient }) {
  const { t } = useI18n();
  const [hooks, setHooks] = useState<Webhook[] | null>(null);
  const [url, setUrl] = useState("");
  const [secret, setSecret] = useState<string | null>(null);
  const { error, setError, run } = useAction();

  const load = () =>
    unwrap(api.GET("/api/v1/webhooks")).then(
      (list) => setHooks(list.items),
      (e: unknown) => setError(errorText(t, e)),
    );
  useEffect(() => {
    void load();
  }, [api]);

  const add = async (event: Event) => {
    event.preventDefault();
    setSecret(null);
    await run(async () => {
      const created = await unwrap(api.POST("/api/v1/webhooks", { body: { url: url.trim() } }));
      setSecret(created.secret ?? null);
      setUrl("");
      await load();
    });
  };

  const remove = (id: string) =>
    run(async () => {
      await unwrap(api.DELETE("/api/v1/webhooks/{id}", { params: { path: { id } } }));
      await load();
    });

  return (
    <section class="card" aria-labelledby="hooks-title">
      <h2 id="hooks-title">{t("settings.webhooks")}</h2>
      {error && <Alert>{error}</Alert>}
      {secret && <ShownOnce>{t("settings.webhookSecret", { secret })}</ShownOnce>}
      <form class="inline-form" onSubmit={add}>
        <label for="hook-url">{t("settings.webhookUrl")}</label>
        <input
          id="hook-url"
          type="url"
          required
          placeholder="https://example.com/fiapx"
          value={url}
          onInput={(e) => setUrl(e.currentTarget.value)}
        />
        <button type="submit" class="secondary">
          {t("settings.webhookAdd")}
        </button>
      </form>
      <LoadedList
        items={hooks}
        failed={!!error}
        loading={t("settings.loading")}
        empty={t("settings.webhookNone")}
        kind="hooks"
        item={(hook) => (
          <li key={hook.id}>
            <code class="hook-url">{hook.url}</code>{" "}
            <button type="button" class="link danger-text" onClick={() => void remove(hook.id)}>
              {t("settings.webhookDelete")}
            </button>
            <WebhookDeliveries api={api} id={hook.id} />
          </li>
        )}
      />
    </section>
  );
}

/** A signing secret just made, in the one answer that has it: shown now and never again, for the user to copy. */
function ShownOnce({ children }: { children: string }) {
  return (
    <Alert kind="info">
      <span class="secret">{children}</span>
    </Alert>
  );
}

/** A webhook's delivery log, read when its `<details>` is first opened. */
function WebhookDeliveries({ api, id }: { api: ApiClient; id: string }) {
  const { t } = useI18n();
  const [opened, setOpened] = useState(false);
  return (
    <details onToggle={(event) => (event.currentTarget as HTMLDetailsElement).open && setOpened(true)}>
      <summary>{t("settings.deliveries")}</summary>
      {opened && (
        <DeliveryLog
          load={() => unwrap(api.GET("/api/v1/webhooks/{id}/deliveries", { params: { path: { id } } }))}
          redeliver={(delivery_id) =>
            unwrap(
              api.POST("/api/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver", {
                params: { path: { id, delivery_id } },
              }),
            )
          }
        />
      )}
    </details>
  );
}

/**
 * The callback signing secret (GET/POST /me/callback-secret): whether there is one and since when (404 `not_found`:
 * none yet), and a button to make one or replace it (after a confirm: the old one stops signing at once). The
 * secret is shown once, in the answer that made it, as a webhook's is.
 */
export function CallbackSecretSection({ api }: { api: ApiClient }) {
  const { t, formatDate } = useI18n();
  // undefined: not known yet; null: none made yet.
  const [current, setCurrent] = useState<CallbackSecret | null | undefined>(undefined);
  const [secret, setSecret] = useState<string | null>(null);
  const { busy, error, setError, run } = useAction();

  useEffect(() => {
    unwrap(api.GET("/api/v1/me/callback-secret")).then(setCurrent, (e: unknown) => {
      if (e instanceof ApiError && e.code === "not_found") setCurrent(null);
      else setError(errorText(t, e));
    });
  }, [api]);

  const make = async () => {
    if (current && !window.confirm(t("settings.callbackSecretReplaceConfirm"))) return;
    setSecret(null);
    await run(async () => {
      const made = await unwrap(api.POST("/api/v1/me/callback-secret"));
      setSecret(made.secret);
      setCurrent({ created_at: made.created_at });
    });
  };

  return (
    <section class="card" aria-labelledby="callback-secret-title">
      <h2 id="callback-secret-title">{t("settings.callbackSecret")}</h2>
      <p class="hint">{t("settings.callbackSecretAbout")}</p>
      {error && <Alert>{error}</Alert>}
      {secret && <ShownOnce>{t("settings.callbackSecretShown", { secret })}</ShownOnce>}
      {current === undefined && !error && <Spinner label={t("settings.loading")} />}
      {current !== undefined && (
        <>
          <p>
            {current
              ? t("settings.callbackSecretSince", { date: formatDate(current.created_at) })
              : t("settings.callbackSecretNone")}
          </p>
          <button type="button" class="secondary" disabled={busy} onClick={() => void make()}>
            {t(current ? "settings.callbackSecretReplace" : "settings.callbackSecretCreate")}
          </button>
        </>
      )}
    </section>
  );
}

/** The delivery log of the user's uploads' callbacks (GET /me/callbacks), with redeliver. */
export function CallbackDeliveries({ api }: { api: ApiClient }) {
  const { t } = useI18n();
  return (
    <section class="card" aria-labelledby="callback-deliveries-title">
      <h2 id="callback-deliveries-title">{t("settings.callbackDeliveries")}</h2>
      <DeliveryLog
        load={() => unwrap(api.GET("/api/v1/me/callbacks"))}
        redeliver={(delivery_id) =>
          unwrap(api.POST("/api/v1/me/callbacks/{delivery_id}/redeliver", { params: { path: { delivery_id } } }))
        }
      />
    </section>
  );
}

/**
 * A delivery log (a webhook's or the callbacks'), read when shown: each delivery's event, state, attempts, date and
 * last error, and a button to send it again now (not while it is being sent: the server answers 409 then). The
 * answer to a redeliver (202, the delivery now due) takes the delivery's place in the list.
 */
function DeliveryLog({
  load,
  redeliver,
}: {
  load: () => Promise<DeliveryList>;
  redeliver: (id: string) => Promise<Delivery>;
}) {
  const { t, formatDate } = useI18n();
  const [items, setItems] = useState<Delivery[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [sending, setSending] = useState<string | null>(null);

  useEffect(() => {
    load().then(
      (list) => setItems(list.items),
      (e: unknown) => setError(errorText(t, e)),
    );
  }, []);

  const again = async (id: string) => {
    setError(null);
    setSending(id);
    try {
      const reopened = await redeliver(id);
      // The answer lists no tries (the server does not read them for it): the ones already known stay.
      setItems((list) => list?.map((d) => (d.id === id ? { ...reopened, tries: d.tries } : d)) ?? null);
    } catch (e) {
      setError(e instanceof ApiError && e.code === "conflict" ? t("settings.redeliverBusy") : errorText(t, e));
    } finally {
      setSending(null);
    }
  };

  return (
    <>
      {error && <Alert>{error}</Alert>}
      <LoadedList
        items={items}
        failed={!!error}
        loading={t("settings.loading")}
        empty={t("settings.deliveriesNone")}
        kind="deliveries"
        item={(d) => (
          <li key={d.id}>
            <code>{d.event_type}</code> {d.status} · {t("count.attempts", { count: d.attempts })}{" "}
            <span class="muted">{formatDate(d.sent_at ?? d.created_at)}</span>
            {d.status !== "sending" && (
              <>
                {" "}
                <button type="button" class="link" disabled={sending === d.id} onClick={() => void again(d.id)}>
                  {t("settings.redeliver")}
                </button>
              </>
            )}
            {d.last_error && <div class="failure">{d.last_error}</div>}
          </li>
        )}
      />
    </>
  );
}
