import { Component, inject, signal } from '@angular/core';
import { Router, RouterOutlet } from '@angular/router';
import { AuthService, LogoutFailedError } from './auth.service';

@Component({
  selector: 'app-root',
  imports: [RouterOutlet],
  template: `
    <header>
      <h1>BFF Angular example</h1>
      @if (auth.user(); as user) {
        <span>{{ user.email }} ({{ user.role }}) <button type="button" (click)="logout()">Log out</button></span>
      }
    </header>
    @if (logoutError(); as message) {
      <p role="alert">{{ message }} <button type="button" (click)="logout()">Try again</button></p>
    }
    <router-outlet />
  `,
})
export class App {
  protected readonly auth = inject(AuthService);
  private readonly router = inject(Router);
  /** Set when the gateway could not end the session: the user is still signed in. */
  protected readonly logoutError = signal<string | null>(null);

  logout(): void {
    this.logoutError.set(null);
    this.auth.logout().subscribe({
      next: () => void this.router.navigate(['/login']),
      error: (err: unknown) =>
        this.logoutError.set(err instanceof LogoutFailedError ? err.message : 'Logout failed; try again.'),
    });
  }
}
