import { GraphQLError, GraphQLScalarType, type ValueNode } from "graphql";
import { GraphQLJSON as LibraryJSON, GraphQLJSONObject as LibraryJSONObject } from "graphql-scalars";
import { jsonValueIssue } from "../validation.js";

/**
 * The JSON scalars every JSON-shaped input and field uses: graphql-scalars' own, with one door
 * check on every value that comes in (jsonValueIssue: nesting, integers beyond 2^53, NUL and lone
 * surrogates), for variables and literals alike. A refused value is a BAD_USER_INPUT whose message
 * names the argument and, within it, the path of the offending value.
 */
function checked(library: GraphQLScalarType): GraphQLScalarType {
  const config = library.toConfig();
  const check = <T>(value: T): T => {
    const issue = jsonValueIssue(value);
    if (issue) throw new GraphQLError(`${issue.path}: ${issue.reason}`, { extensions: { code: "BAD_USER_INPUT", layer: "validation", retriable: false } });
    return value;
  };
  return new GraphQLScalarType({
    ...config,
    parseValue: (value: unknown) => check(config.parseValue ? config.parseValue(value) : value),
    parseLiteral: (ast: ValueNode, variables?: Record<string, unknown> | null) => check(config.parseLiteral ? config.parseLiteral(ast, variables) : undefined),
  });
}

export const GraphQLJSON = checked(LibraryJSON);
export const GraphQLJSONObject = checked(LibraryJSONObject);
