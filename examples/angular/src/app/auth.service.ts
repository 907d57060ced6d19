import { HttpClient } from '@angular/common/http';
import { Injectable, inject } from '@angular/core';
import { Observable, catchError, concat, map, of, tap, toArray } from 'rxjs';
import { API_BASE_URL, SessionStore, User } from './api';
import { SessionRefresher } from './auth.interceptor';

@Injectable({ providedIn: 'root' })
export class AuthService {
  private readonly http = inject(HttpClient);
  private readonly base = inject(API_BASE_URL);
  private readonly session = inject(SessionStore);
  private readonly refresher = inject(SessionRefresher);
  readonly user = this.session.user.asReadonly();

  /** The gateway sets the httpOnly cookies; the body is just the user. */
  login(email: string, password: string): Observable<User> {
    return this.http
      .post<User>(`${this.base}/api/auth/login`, { username: email, password })
      .pipe(
        tap((u) => {
          this.refresher.sessionChanged(true);
          this.session.user.set(u);
        }),
      );
  }

  me(): Observable<User> {
    return this.http.get<User>(`${this.base}/api/auth/me`).pipe(tap((u) => this.session.user.set(u)));
  }

  /**
   * Revokes with the refresh cookie first (works even when the access cookie
   * has already expired), then the access-cookie logout. Both are idempotent
   * and either one ends the session. When neither could (the gateway answers
   * 503 and keeps the cookies when it cannot store the revocation), the user
   * is still signed in: the observable fails with {@link LogoutFailedError}
   * and nothing local is cleared, so the caller can say so and offer a retry.
   */
  logout(): Observable<void> {
    const attempt = (url: string) =>
      this.http.post<void>(`${this.base}${url}`, null).pipe(
        map(() => true),
        catchError(() => of(false)),
      );
    return concat(attempt('/api/auth/refresh/revoke'), attempt('/api/auth/logout')).pipe(
      toArray(),
      map((ended) => {
        if (!ended.includes(true)) throw new LogoutFailedError();
        this.refresher.sessionChanged(false);
        this.session.user.set(null);
      }),
    );
  }
}

/** The gateway could not end the session; the user is still signed in. */
export class LogoutFailedError extends Error {
  constructor() {
    super('Logout failed: the server could not end your session, so you are still signed in.');
    this.name = 'LogoutFailedError';
  }
}
