import { Loaded } from "../components/Loaded";
import { formatTime } from "../format";
import { LanguageModelsDocument } from "../generated/graphql";
import { useQuery } from "../hooks/useQuery";

/** The tenant's language models; whether a key is configured, never the key. */
export function LanguageModelsPage() {
  const models = useQuery(LanguageModelsDocument, {});
  return (
    <section>
      <h1>Language models</h1>
      <Loaded data={models.data} error={models.error}>
        {({ languageModels: page }) => (
          <>
            <table>
              <thead>
                <tr>
                  <th>Name</th>
                  <th>Model</th>
                  <th>API base</th>
                  <th>Temperature</th>
                  <th>Max tokens</th>
                  <th>Cache</th>
                  <th>Key</th>
                  <th>Price (USD / M tokens in · out)</th>
                  <th>Updated</th>
                </tr>
              </thead>
              <tbody>
                {page.edges.map(({ node }) => (
                  <tr key={node.id} data-testid="language-model-row">
                    <td>{node.name}</td>
                    <td>
                      <code>{node.model}</code>
                    </td>
                    <td>{node.apiBase ?? "—"}</td>
                    <td>{node.temperature ?? "—"}</td>
                    <td>{node.maxTokens ?? "—"}</td>
                    <td>{node.cache ? "on" : "off"}</td>
                    <td>{node.hasSecret ? "configured" : "none"}</td>
                    <td>{node.price ? `${node.price.inputPerMTokens} · ${node.price.outputPerMTokens} (${node.price.source})` : "—"}</td>
                    <td>{formatTime(node.updatedAt)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
            {page.totalCount > page.edges.length ? <p class="muted">The first {page.edges.length} of {page.totalCount}.</p> : null}
          </>
        )}
      </Loaded>
    </section>
  );
}
