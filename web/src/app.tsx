// The application shell: language, session, routing and the header.
import { useEffect, useMemo, useState } from "preact/hooks";
import { createApi } from "./api/client";
import type { User } from "./api/contract";
import { type SessionStore, shareCredentials } from "./api/session";
import { PageHeading, Spinner } from "./components";
import { I18nContext, LOCALES, type Locale, initialLocale, makeI18n, saveLocale, useI18n } from "./i18n";
import { type Route, navigate, onLinkClick, useRoute } from "./router";
import { Register, SignIn } from "./screens/auth";
import { Settings } from "./screens/settings";
import { VideoScreen } from "./screens/video";
import { Videos } from "./screens/videos";

const PUBLIC: Route["name"][] = ["signin", "register", "share", "notFound"];

export function App({ session }: { session: SessionStore }) {
  const [locale, setLocaleState] = useState<Locale>(() => initialLocale());
  const i18n = useMemo(
    () =>
      makeI18n(locale, (next) => {
        saveLocale(next);
        setLocaleState(next);
      }),
    [locale],
  );
  useEffect(() => {
    document.documentElement.lang = locale;
  }, [locale]);

  const [user, setUser] = useState<User | null>(session.user);
  const [restoring, setRestoring] = useState(() => session.user === null && session.hasStoredSession());
  useEffect(() => session.subscribe(setUser), [session]);
  useEffect(() => {
    if (restoring) void session.renew().finally(() => setRestoring(false));
  }, []);

  const route = useRoute();
  const needsUser = !PUBLIC.includes(route.name);
  useEffect(() => {
    if (restoring) return;
    if (needsUser && !user) navigate("/signin", true);
    else if (user && (route.name === "signin" || route.name === "register")) navigate("/", true);
  }, [route.name, user, restoring]);

  useEffect(() => {
    const titles: Partial<Record<Route["name"], string>> = {
      signin: i18n.t("auth.signIn"),
      register: i18n.t("auth.register"),
      settings: i18n.t("settings.title"),
      share: i18n.t("share.title"),
      videos: i18n.t("videos.title"),
    };
    const title = titles[route.name];
    document.title = title ? `${title} · FIAP X` : "FIAP X";
  }, [route.name, locale]);

  return (
    <I18nContext.Provider value={i18n}>
      <a class="skip" href="#main">
        {i18n.t("app.skip")}
      </a>
      <Header session={session} user={user} />
      <main id="main" tabIndex={-1}>
        {restoring || (needsUser && !user) ? (
          <Spinner label={i18n.t("auth.working")} />
        ) : (
          <Screen route={route} session={session} />
        )}
      </main>
    </I18nContext.Provider>
  );
}

function Screen({ route, session }: { route: Route; session: SessionStore }) {
  const { t } = useI18n();
  switch (route.name) {
    case "signin":
      return <SignIn session={session} />;
    case "register":
      return <Register session={session} />;
    case "videos":
      return <Videos session={session} />;
    case "video":
      return <VideoScreen key={route.id} id={route.id} api={session.api} credentials={session} />;
    case "settings":
      return <Settings api={session.api} />;
    case "share":
      return <SharedVideo id={route.id} token={route.token} />;
    case "notFound":
      return (
        <>
          <PageHeading>{t("notFound.title")}</PageHeading>
          <p>
            <a href="/" onClick={onLinkClick}>
              {t("video.back")}
            </a>
          </p>
        </>
      );
  }
}

function SharedVideo({ id, token }: { id: string; token: string }) {
  const credentials = useMemo(() => shareCredentials(token), [token]);
  const api = useMemo(() => createApi(credentials), [credentials]);
  return <VideoScreen id={id} api={api} credentials={credentials} readOnly />;
}

function Header({ session, user }: { session: SessionStore; user: User | null }) {
  const { t, locale, setLocale } = useI18n();
  return (
    <header class="top">
      <a class="brand" href="/" onClick={onLinkClick}>
        FIAP X <span class="tagline">{t("app.tagline")}</span>
      </a>
      <nav aria-label={t("nav.main")}>
        {user && (
          <>
            <a href="/" onClick={onLinkClick}>
              {t("nav.videos")}
            </a>
            <a href="/settings" onClick={onLinkClick}>
              {t("nav.settings")}
            </a>
          </>
        )}
        <label class="visually-hidden" for="language">
          {t("nav.language")}
        </label>
        {/* Each language is named in itself and marked with its lang, so screen readers say it in that language. */}
        <select id="language" value={locale} onChange={(e) => setLocale(e.currentTarget.value as Locale)}>
          {LOCALES.map((l) => (
            <option value={l} lang={l}>
              {l === "en" ? "English" : "Português (Brasil)"}
            </option>
          ))}
        </select>
        {user && (
          <button
            type="button"
            class="link"
            onClick={() => void session.logout().then(() => navigate("/signin", true))}
            title={user.email}
          >
            {t("nav.signOut")}
          </button>
        )}
      </nav>
    </header>
  );
}
