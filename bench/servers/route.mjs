/** The one route every server variant answers (no dependencies: the runner imports it before building). */
export const ROUTE = '/api/v1/players';
export const PAYLOAD = { players: [] };
