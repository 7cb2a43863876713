import { Loaded } from "../components/Loaded";
import { formatScore, formatTime } from "../format";
import { ProgramsDocument } from "../generated/graphql";
import { useQuery } from "../hooks/useQuery";
import { href } from "../router";

/** The tenant's programs, each with its current version. */
export function ProgramsPage() {
  const programs = useQuery(ProgramsDocument, { after: null });
  return (
    <section>
      <div class="page-head">
        <h1>Programs</h1>
        <button type="button" class="secondary" onClick={programs.reload}>
          Refresh
        </button>
      </div>
      <Loaded data={programs.data} error={programs.error}>
        {({ programs: page }) => (
          <>
            <table>
              <thead>
                <tr>
                  <th>Name</th>
                  <th>Description</th>
                  <th>Language model</th>
                  <th>Current version</th>
                  <th>Score</th>
                  <th>Updated</th>
                </tr>
              </thead>
              <tbody>
                {page.edges.map(({ node }) => (
                  <tr key={node.id} data-testid="program-row">
                    <td>
                      <a href={href(["programs", node.id])}>{node.name}</a>
                    </td>
                    <td class="muted">{node.description ?? ""}</td>
                    <td>{node.languageModel?.name ?? "—"}</td>
                    <td>{node.currentVersion ? `v${node.currentVersion.number}` : "—"}</td>
                    <td>{formatScore(node.currentVersion?.score)}</td>
                    <td>{formatTime(node.updatedAt)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
            {page.edges.length === 0 ? <p class="muted">No programs yet: create one with the createProgram mutation.</p> : null}
            {page.pageInfo.hasNextPage ? <p class="muted">The first {page.edges.length} of {page.totalCount}.</p> : null}
          </>
        )}
      </Loaded>
    </section>
  );
}
