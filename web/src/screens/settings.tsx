// Notification preferences and webhooks (the notifier's endpoints, issue 6); the password (issue 12).
import { useEffect, useRef, useState } from "preact/hooks";
import { type ApiClient, ApiError, unwrap } from "../api/client";
import type { NotificationPreferences, Webhook, WebhookDelivery } from "../api/contract";
import { Alert, PageHeading, Spinner } from "../components";
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
  const [error, setError] = useState<string | null>(null);
  const [saved, setSaved] = useState(false);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    unwrap(api.GET("/api/v1/me/notifications")).then(setPrefs, (e: unknown) => setError(errorText(t, e)));
  }, [api]);

  const save = async (event: Event) => {
    event.preventDefault();
    if (!prefs) return;
    setBusy(true);
    setSaved(false);
    setError(null);
    try {
      setPrefs(await unwrap(api.PUT("/api/v1/me/notifications", { body: prefs })));
      setSaved(true);
    } catch (e) {
      setError(errorText(t, e));
    } finally {
      setBusy(false);
    }
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

function Webhooks({ api }: { api: ApiClient }) {
  const { t } = useI18n();
  const [hooks, setHooks] = useState<Webhook[] | null>(null);
  const [url, setUrl] = useState("");
  const [secret, setSecret] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);

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
    setError(null);
    setSecret(null);
    try {
      const created = await unwrap(api.POST("/api/v1/webhooks", { body: { url: url.trim() } }));
      setSecret(created.secret ?? null);
      setUrl("");
      await load();
    } catch (e) {
      setError(errorText(t, e));
    }
  };

  const remove = async (id: string) => {
    setError(null);
    try {
      await unwrap(api.DELETE("/api/v1/webhooks/{id}", { params: { path: { id } } }));
      await load();
    } catch (e) {
      setError(errorText(t, e));
    }
  };

  return (
    <section class="card" aria-labelledby="hooks-title">
      <h2 id="hooks-title">{t("settings.webhooks")}</h2>
      {error && <Alert>{error}</Alert>}
      {secret && (
        <Alert kind="info">
          <span class="secret">{t("settings.webhookSecret", { secret })}</span>
        </Alert>
      )}
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
      {!hooks && !error && <Spinner label={t("settings.loading")} />}
      {hooks && hooks.length === 0 && <p class="empty">{t("settings.webhookNone")}</p>}
      {hooks && hooks.length > 0 && (
        <ul class="hooks">
          {hooks.map((hook) => (
            <li key={hook.id}>
              <code class="hook-url">{hook.url}</code>{" "}
              <button type="button" class="link danger-text" onClick={() => void remove(hook.id)}>
                {t("settings.webhookDelete")}
              </button>
              <Deliveries api={api} id={hook.id} />
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function Deliveries({ api, id }: { api: ApiClient; id: string }) {
  const { t, formatDate } = useI18n();
  const [open, setOpen] = useState(false);
  const [items, setItems] = useState<WebhookDelivery[] | null>(null);
  const [error, setError] = useState<string | null>(null);

  const toggle = (event: Event) => {
    const isOpen = (event.currentTarget as HTMLDetailsElement).open;
    setOpen(isOpen);
    if (isOpen && !items) {
      unwrap(api.GET("/api/v1/webhooks/{id}/deliveries", { params: { path: { id } } })).then(
        (list) => setItems(list.items),
        (e: unknown) => setError(errorText(t, e)),
      );
    }
  };

  return (
    <details onToggle={toggle}>
      <summary>{t("settings.deliveries")}</summary>
      {open && error && <Alert>{error}</Alert>}
      {open && !items && !error && <Spinner label={t("settings.loading")} />}
      {items && items.length === 0 && <p class="empty">{t("settings.deliveriesNone")}</p>}
      {items && items.length > 0 && (
        <ul class="deliveries">
          {items.map((d) => (
            <li key={d.id}>
              <code>{d.event_type}</code> {d.status} · {t("count.attempts", { count: d.attempts })}{" "}
              <span class="muted">{formatDate(d.sent_at ?? d.created_at)}</span>
              {d.last_error && <div class="failure">{d.last_error}</div>}
            </li>
          ))}
        </ul>
      )}
    </details>
  );
}
