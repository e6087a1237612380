// Sign in and create an account.
import type { ComponentChildren, JSX } from "preact";
import { useState } from "preact/hooks";
import type { SessionStore } from "../api/session";
import { Alert, PageHeading } from "../components";
import { errorText } from "../errors";
import { type Translate, useI18n } from "../i18n";
import { navigate, onLinkClick } from "../router";

/**
 * An auth form's busy flag, error and submit handler (the props of its AuthCard): `onSubmit` runs `check` (a message
 * stops it), then `action`, then goes home.
 */
function useAuthSubmit(t: Translate, action: () => Promise<unknown>, check: () => string | null = () => null) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const onSubmit = async (event: Event) => {
    event.preventDefault();
    const problem = check();
    if (problem !== null) {
      setError(problem);
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await action();
      navigate("/", true);
    } catch (e) {
      setError(errorText(t, e));
      setBusy(false);
    }
  };
  return { busy, error, onSubmit };
}

type FieldProps = Omit<JSX.InputHTMLAttributes<HTMLInputElement>, "value" | "onInput"> & {
  id: string;
  label: string;
  value: string;
  onValue: (value: string) => void;
};

/** A labelled, required input. */
function Field({ id, label, value, onValue, ...input }: FieldProps) {
  return (
    <>
      <label for={id}>{label}</label>
      <input id={id} required value={value} onInput={(e) => onValue(e.currentTarget.value)} {...input} />
    </>
  );
}

interface AuthCardProps {
  title: string;
  busy: boolean;
  error: string | null;
  onSubmit: (event: Event) => void;
  /** The other screen: the question, the link's text and where it goes. */
  other: { question: string; label: string; href: string };
  children: ComponentChildren;
}

function AuthCard({ title, busy, error, onSubmit, other, children }: AuthCardProps) {
  const { t } = useI18n();
  return (
    <section class="card narrow">
      <PageHeading>{title}</PageHeading>
      <form onSubmit={onSubmit} aria-busy={busy}>
        {error && <Alert>{error}</Alert>}
        {children}
        <button type="submit" class="primary" disabled={busy}>
          {busy ? t("auth.working") : title}
        </button>
      </form>
      <p>
        {other.question}{" "}
        <a href={other.href} onClick={onLinkClick}>
          {other.label}
        </a>
      </p>
    </section>
  );
}

export function SignIn({ session }: { session: SessionStore }) {
  const { t } = useI18n();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const form = useAuthSubmit(t, () => session.login(email.trim(), password));
  return (
    <AuthCard
      title={t("auth.signIn")}
      {...form}
      other={{ question: t("auth.noAccount"), label: t("auth.register"), href: "/register" }}
    >
      <Field id="signin-email" label={t("auth.email")} type="email" autocomplete="username" value={email} onValue={setEmail} />
      <Field
        id="signin-password"
        label={t("auth.password")}
        type="password"
        autocomplete="current-password"
        value={password}
        onValue={setPassword}
      />
    </AuthCard>
  );
}

export function Register({ session }: { session: SessionStore }) {
  const { t, locale } = useI18n();
  const [name, setName] = useState("");
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const form = useAuthSubmit(
    t,
    () => session.register(email.trim(), password, name.trim(), locale),
    () => (password.length < 10 ? t("error.weak_password") : null),
  );
  return (
    <AuthCard
      title={t("auth.register")}
      {...form}
      other={{ question: t("auth.haveAccount"), label: t("auth.signIn"), href: "/signin" }}
    >
      <Field id="register-name" label={t("auth.displayName")} autocomplete="name" value={name} onValue={setName} />
      <Field id="register-email" label={t("auth.email")} type="email" autocomplete="username" value={email} onValue={setEmail} />
      <Field
        id="register-password"
        label={t("auth.password")}
        type="password"
        autocomplete="new-password"
        minLength={10}
        maxLength={128}
        aria-describedby="register-password-hint"
        value={password}
        onValue={setPassword}
      />
      <p id="register-password-hint" class="hint">
        {t("auth.passwordHint")}
      </p>
    </AuthCard>
  );
}
