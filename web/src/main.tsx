import { render } from "preact";
import { App } from "./app";
import { SessionStore } from "./api/session";
import "./styles.css";

const root = document.getElementById("app");
if (root) render(<App session={new SessionStore()} />, root);
