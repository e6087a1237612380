// Sign in and create an account.
import { useState } from "preact/hooks";
import type { SessionStore } from "../api/session";
import { Alert, PageHeading } from "../components";
import { errorText } from "../errors";
import { useI18n } from "../i18n";
import { navigate, onLinkClick } from "../router";

export function SignIn({ session }: { session: SessionStore }) {
  const { t } = useI18n();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await session.login(email.trim(), password);
      navigate("/", true);
    } catch (e) {
      setError(errorText(t, e));
      setBusy(false);
    }
  };

  return (
    <section class="card narrow">
      <PageHeading>{t("auth.signIn")}</PageHeading>
      <form onSubmit={submit} aria-busy={busy}>
        {error && <Alert>{error}</Alert>}
        <label for="signin-email">{t("auth.email")}</label>
        <input
          id="signin-email"
          type="email"
          autocomplete="username"
          required
          value={email}
          onInput={(e) => setEmail(e.currentTarget.value)}
        />
        <label for="signin-password">{t("auth.password")}</label>
        <input
          id="signin-password"
          type="password"
          autocomplete="current-password"
          required
          value={password}
          onInput={(e) => setPassword(e.currentTarget.value)}
        />
        <button type="submit" class="primary" disabled={busy}>
          {busy ? t("auth.working") : t("auth.signIn")}
        </button>
      </form>
      <p>
        {t("auth.noAccount")}{" "}
        <a href="/register" onClick={onLinkClick}>
          {t("auth.register")}
        </a>
      </p>
    </section>
  );
}

export function Register({ session }: { session: SessionStore }) {
  const { t, locale } = useI18n();
  const [name, setName] = useState("");
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const submit = async (event: Event) => {
    event.preventDefault();
    if (password.length < 10) {
      setError(t("error.weak_password"));
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await session.register(email.trim(), password, name.trim(), locale);
      navigate("/", true);
    } catch (e) {
      setError(errorText(t, e));
      setBusy(false);
    }
  };

  return (
    <section class="card narrow">
      <PageHeading>{t("auth.register")}</PageHeading>
      <form onSubmit={submit} aria-busy={busy}>
        {error && <Alert>{error}</Alert>}
        <label for="register-name">{t("auth.displayName")}</label>
        <input
          id="register-name"
          autocomplete="name"
          required
          value={name}
          onInput={(e) => setName(e.currentTarget.value)}
        />
        <label for="register-email">{t("auth.email")}</label>
        <input
          id="register-email"
          type="email"
          autocomplete="username"
          required
          value={email}
          onInput={(e) => setEmail(e.currentTarget.value)}
        />
        <label for="register-password">{t("auth.password")}</label>
        <input
          id="register-password"
          type="password"
          autocomplete="new-password"
          required
          minLength={10}
          maxLength={128}
          aria-describedby="register-password-hint"
          value={password}
          onInput={(e) => setPassword(e.currentTarget.value)}
        />
        <p id="register-password-hint" class="hint">
          {t("auth.passwordHint")}
        </p>
        <button type="submit" class="primary" disabled={busy}>
          {busy ? t("auth.working") : t("auth.register")}
        </button>
      </form>
      <p>
        {t("auth.haveAccount")}{" "}
        <a href="/signin" onClick={onLinkClick}>
          {t("auth.signIn")}
        </a>
      </p>
    </section>
  );
}
