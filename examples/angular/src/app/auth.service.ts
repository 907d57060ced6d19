import { HttpClient } from '@angular/common/http';
import { Injectable, inject } from '@angular/core';
import { Observable, catchError, concat, finalize, map, of, tap, toArray } from 'rxjs';
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
   * has already expired), then the access-cookie logout. Both are idempotent.
   */
  logout(): Observable<void> {
    const bestEffort = (url: string) =>
      this.http.post<void>(`${this.base}${url}`, null).pipe(catchError(() => of(null)));
    return concat(bestEffort('/api/auth/refresh/revoke'), bestEffort('/api/auth/logout')).pipe(
      toArray(),
      map(() => undefined),
      finalize(() => {
        this.refresher.sessionChanged(false);
        this.session.user.set(null);
      }),
    );
  }
}
