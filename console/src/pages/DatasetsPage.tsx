import { Loaded } from "../components/Loaded";
import { formatTime } from "../format";
import { DatasetsDocument } from "../generated/graphql";
import { useQuery } from "../hooks/useQuery";

/** The tenant's datasets with their examples per split. */
export function DatasetsPage() {
  const datasets = useQuery(DatasetsDocument, {});
  return (
    <section>
      <h1>Datasets</h1>
      <Loaded data={datasets.data} error={datasets.error}>
        {({ datasets: page }) => (
          <>
            <table>
              <thead>
                <tr>
                  <th>Name</th>
                  <th>Description</th>
                  <th>Examples</th>
                  <th>Train</th>
                  <th>Dev</th>
                  <th>Test</th>
                  <th>Updated</th>
                </tr>
              </thead>
              <tbody>
                {page.edges.map(({ node }) => (
                  <tr key={node.id} data-testid="dataset-row">
                    <td>{node.name}</td>
                    <td class="muted">{node.description ?? ""}</td>
                    <td>{node.exampleCount}</td>
                    <td>{node.train}</td>
                    <td>{node.dev}</td>
                    <td>{node.test}</td>
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
