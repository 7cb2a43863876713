import { render } from "preact";
import { App } from "./App";

// The page's base is /console/: opened as /console, fragment links would leave the page. Add the
// slash before anything renders (no reload: only the address changes).
if (!location.pathname.endsWith("/")) history.replaceState(null, "", `${location.pathname}/${location.search}${location.hash}`);

render(<App />, document.getElementById("app")!);
