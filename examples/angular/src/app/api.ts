import { HttpErrorResponse } from '@angular/common/http';
import { Injectable, InjectionToken, signal } from '@angular/core';

/**
 * Prefix for API calls. '' (default) means same origin: `ng serve` proxies
 * /api to the gateway (proxy.conf.json), and a production build can be served
 * by the gateway itself. For the CORS setup instead, provide e.g.
 * 'http://localhost:8080' (see README: the host must be same-site with the
 * page, because the cookies are SameSite=Strict).
 */
export const API_BASE_URL = new InjectionToken<string>('API_BASE_URL', {
  providedIn: 'root',
  factory: () => '',
});

export interface User {
  id: number;
  email: string;
  role: 'user' | 'admin' | string;
}

export interface Person {
  id: number;
  firstName: string;
  lastName: string;
}

/** The gateway's error body. */
export interface ApiErrorBody {
  statusCode: number;
  code: string;
  message: string;
  errors?: { field: string; message: string }[];
}

/** Who is signed in, as last reported by the gateway. No tokens: they live in httpOnly cookies. */
@Injectable({ providedIn: 'root' })
export class SessionStore {
  readonly user = signal<User | null>(null);
}

export function errorMessage(err: unknown): string {
  if (err instanceof HttpErrorResponse) {
    const body = err.error as Partial<ApiErrorBody> | null;
    if (body && typeof body === 'object' && body.message) {
      const details = (body.errors ?? []).map((e) => `${e.field}: ${e.message}`).join('; ');
      return details ? `${body.message} (${details})` : body.message;
    }
    return err.status === 0 ? 'The gateway could not be reached.' : `Request failed (HTTP ${err.status}).`;
  }
  return String(err);
}
