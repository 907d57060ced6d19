import {
  HttpBackend,
  HttpClient,
  HttpErrorResponse,
  HttpEvent,
  HttpInterceptorFn,
} from '@angular/common/http';
import { Injectable, inject } from '@angular/core';
import { Router } from '@angular/router';
import { Observable, catchError, finalize, map, of, shareReplay, switchMap, tap, throwError } from 'rxjs';
import { API_BASE_URL, SessionStore } from './api';

/** 401 codes that mean "the access cookie is gone or stale": worth one refresh. */
const REFRESHABLE_CODES = new Set(['token_expired', 'token_missing']);

/** Calls that must never trigger a refresh: the refresh itself and the public/logout endpoints. */
const NO_REFRESH = /\/api\/auth\/(login|signup|logout|refresh)(\/|\?|$)/;

/**
 * Single-flight refresh: while one POST /api/auth/refresh is running, every
 * caller gets the same shared observable (`shareReplay`); `finalize` clears it
 * once it has settled, so that a later expiry starts a fresh refresh.
 *
 * A 401 can also arrive just *after* that refresh settled, for a request that
 * was sent before it: the `epoch` (bumped whenever a refresh settles or a login
 * succeeds) lets such a request reuse the outcome instead of refreshing again.
 */
@Injectable({ providedIn: 'root' })
export class SessionRefresher {
  // HttpBackend bypasses the interceptor chain: the refresh call can never recurse.
  private readonly http = new HttpClient(inject(HttpBackend));
  private readonly baseUrl = inject(API_BASE_URL);
  private inFlight: Observable<void> | null = null;
  private lastOk = false;
  epoch = 0;

  /** `sentAt`: the epoch when the failed request was sent. */
  refresh(sentAt: number): Observable<void> {
    if (sentAt !== this.epoch && !this.inFlight) {
      return this.lastOk ? of(undefined) : throwError(() => new Error('session ended'));
    }
    this.inFlight ??= this.http
      .post(`${this.baseUrl}/api/auth/refresh`, null, { withCredentials: true })
      .pipe(
        map(() => undefined),
        tap({ next: () => (this.lastOk = true), error: () => (this.lastOk = false) }),
        finalize(() => {
          this.epoch += 1;
          this.inFlight = null;
        }),
        shareReplay({ bufferSize: 1, refCount: false }),
      );
    return this.inFlight;
  }

  /** A login (or logout) replaces the session: older failures must not decide for it. */
  sessionChanged(active: boolean): void {
    this.epoch += 1;
    this.lastOk = active;
  }
}

function isRefreshable(err: unknown): err is HttpErrorResponse {
  return (
    err instanceof HttpErrorResponse &&
    err.status === 401 && // 403 is a role refusal: never refresh on it
    REFRESHABLE_CODES.has((err.error as { code?: string } | null)?.code ?? '')
  );
}

export const authInterceptor: HttpInterceptorFn = (req, next) => {
  // Cookies are the credentials: send them on every API call (needed for the CORS setup).
  const authReq = req.clone({ withCredentials: true });
  if (NO_REFRESH.test(req.url)) return next(authReq);

  const refresher = inject(SessionRefresher);
  const router = inject(Router);
  const session = inject(SessionStore);

  const sentAt = refresher.epoch; // interceptors run when the request is sent (on subscribe)

  const sessionLost = (err: unknown): Observable<HttpEvent<unknown>> => {
    session.user.set(null);
    void router.navigate(['/login']);
    return throwError(() => err);
  };

  return next(authReq).pipe(
    catchError((err: unknown) => {
      if (!isRefreshable(err)) return throwError(() => err);
      return refresher.refresh(sentAt).pipe(
        catchError(() => sessionLost(err)),
        // Retry the original request once; a second 401 ends the session.
        switchMap(() =>
          next(authReq).pipe(
            catchError((retryErr: unknown) =>
              retryErr instanceof HttpErrorResponse && retryErr.status === 401
                ? sessionLost(retryErr)
                : throwError(() => retryErr),
            ),
          ),
        ),
      );
    }),
  );
};
