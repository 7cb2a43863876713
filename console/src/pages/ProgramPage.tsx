import { ErrorBox } from "../components/ErrorBox";
import { Loaded } from "../components/Loaded";
import { RunForm } from "../components/RunForm";
import { formatMs, formatScore, formatTime } from "../format";
import { ProgramDocument, PromoteVersionDocument } from "../generated/graphql";
import { useMutation } from "../hooks/useMutation";
import { useQuery } from "../hooks/useQuery";
import { href, navigate } from "../router";

/** One program: its versions (which is current, scores, the last day's figures), promote one, run it. */
export function ProgramPage({ id }: { id: string }) {
  const program = useQuery(ProgramDocument, { id });
  const promote = useMutation(PromoteVersionDocument);
  return (
    <Loaded data={program.data} error={program.error}>
      {({ program: found }) =>
        !found ? (
          <p class="muted">No such program (or not one this credential may see).</p>
        ) : (
          <section>
            <div class="page-head">
              <h1>{found.name}</h1>
              <span class="muted">{found.description ?? ""}</span>
              <a href={href(["executions"], { program: found.id })}>Executions</a>
            </div>
            <p class="muted">
              Language model: {found.languageModel ? `${found.languageModel.name} (${found.languageModel.model})` : "none"} · updated {formatTime(found.updatedAt)}
            </p>
            <h2>Versions</h2>
            <ErrorBox error={promote.error} title="Promotion refused" />
            <table>
              <thead>
                <tr>
                  <th>Version</th>
                  <th>Source</th>
                  <th>Score</th>
                  <th>Labels</th>
                  <th>Executions (24 h)</th>
                  <th>Error rate</th>
                  <th>p50 latency</th>
                  <th>Created</th>
                  <th></th>
                </tr>
              </thead>
              <tbody>
                {found.versions.edges.map(({ node: version }) => {
                  const current = version.id === found.currentVersion?.id;
                  const stats = found.versionStats.find((s) => s.versionId === version.id);
                  const labels = found.labels.filter((label) => label.routes.some((route) => route.versionId === version.id)).map((label) => label.name);
                  return (
                    <tr key={version.id} data-testid="version-row" class={current ? "current" : ""}>
                      <td>
                        v{version.number} {current ? <span class="badge" data-testid="current-marker">current</span> : null}
                      </td>
                      <td>{version.source.toLowerCase()}</td>
                      <td>{formatScore(version.score)}</td>
                      <td>{labels.join(", ")}</td>
                      <td>{stats ? `${stats.executions} (${stats.completed} ok, ${stats.failed} failed)` : "—"}</td>
                      <td>{stats?.errorRate === null || stats?.errorRate === undefined ? "—" : `${(stats.errorRate * 100).toFixed(0)} %`}</td>
                      <td>{formatMs(stats?.latencyP50Ms)}</td>
                      <td>{formatTime(version.createdAt)}</td>
                      <td>
                        {current ? null : (
                          <button
                            type="button"
                            class="secondary"
                            disabled={promote.running}
                            onClick={async () => {
                              if (await promote.run({ versionId: version.id })) program.reload();
                            }}
                          >
                            Promote
                          </button>
                        )}
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
            {found.versions.totalCount > found.versions.edges.length ? <p class="muted">The first {found.versions.edges.length} of {found.versions.totalCount} versions.</p> : null}
            <h2>Run it</h2>
            <RunForm programs={[{ id: found.id, name: found.name }]} programId={found.id} onStarted={(execution) => navigate(href(["executions", execution.id], { program: found.id }))} />
          </section>
        )
      }
    </Loaded>
  );
}
