/** Who a call acts for. Every read and write is limited to `tenantId`. */
export interface Scope {
  tenantId: string;
}
