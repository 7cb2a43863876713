import type { Route } from "../router";
import { DatasetsPage } from "./DatasetsPage";
import { EvaluationsPage } from "./EvaluationsPage";
import { ExecutionsPage } from "./ExecutionsPage";
import { LanguageModelsPage } from "./LanguageModelsPage";
import { OptimizationsPage } from "./OptimizationsPage";
import { ProgramPage } from "./ProgramPage";
import { ProgramsPage } from "./ProgramsPage";

/** The page a route names. */
export function Pages({ route }: { route: Route }) {
  const [section = "programs", id] = route.segments;
  switch (section) {
    case "programs":
      return id ? <ProgramPage key={id} id={id} /> : <ProgramsPage />;
    case "executions":
      return <ExecutionsPage route={route} selectedId={id} />;
    case "evaluations":
      return <EvaluationsPage />;
    case "optimizations":
      return <OptimizationsPage />;
    case "language-models":
      return <LanguageModelsPage />;
    case "datasets":
      return <DatasetsPage />;
    default:
      return <p class="muted">No such page: {section}.</p>;
  }
}
