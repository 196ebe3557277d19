/**
 * Errors as the API answers them: JSON `{ code, message }` with a stable code and a human message,
 * never a stack trace.
 */
export class ApiError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export const notFound = (code: string, message: string) => new ApiError(404, code, message);
export const badRequest = (code: string, message: string) => new ApiError(400, code, message);
export const unauthorized = (message = 'authentication required: send "Authorization: Bearer <token>" or log in') =>
  new ApiError(401, 'unauthorized', message);
