import type { IssueDetail } from "../errors.js";
import type { LanguageModelPolicies } from "../languageModels/policies.js";
import type { NormalizedProgram } from "./definition/index.js";
import { formatPath } from "./definition/format.js";
import { secretNames } from "./definition/moduleParts.js";

/**
 * HTTP tools (and servers a module reads, ColBERTv2) go where LMs may go and read only the secrets
 * LMs may read: the operator's egress policy on the URL's host (LM_EGRESS_ALLOW; a DNS name is
 * checked again where it resolves, in the worker) and the secret policy on every ${NAME} a header
 * names (LM_SECRET_ENV_ALLOW).
 */
export function httpToolIssues(program: NormalizedProgram, policies: LanguageModelPolicies, root: string): IssueDetail[] {
  const issues: IssueDetail[] = [];
  for (const [name, module] of Object.entries(program.modules)) {
    if (module.url !== undefined) {
      const refused = policies.egress.refusal(module.url);
      if (refused) issues.push({ path: formatPath(root, ["modules", name, "url"]), reason: refused });
    }
    for (const [i, tool] of (module.tools ?? []).entries()) {
      const target = "mcp" in tool ? tool.mcp : tool.http;
      if (!target) continue;
      const at = (...segs: (string | number)[]) => formatPath(root, ["modules", name, "tools", i, "mcp" in tool ? "mcp" : "http", ...segs]);
      const refused = policies.egress.refusal(target.url.replace(/\{[A-Za-z][A-Za-z0-9_]*\}/g, "x"));
      if (refused) issues.push({ path: at("url"), reason: refused });
      for (const [header, value] of Object.entries(target.headers)) {
        for (const secret of secretNames(value)) {
          if (!policies.secretEnv.allows(secret)) issues.push({ path: at("headers", header), reason: `\${${secret}} ${policies.secretEnv.refusal(secret)}` });
        }
      }
    }
  }
  return issues;
}
